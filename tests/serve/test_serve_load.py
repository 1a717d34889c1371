"""``benchmarks/serve_load.py``'s own checks, without running a load: the servers it starts get no API key,
and a run with failed requests or no throughput prints no speedup (and exits non-zero)."""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from interlingua.serve.config import API_KEY_ENV

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


@pytest.fixture(scope="module")
def serve_load() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("serve_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["serve_load"] = module  # @dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["serve_load"]
    sys.path.remove(str(SCRIPT.parent))  # the script puts benchmarks/ on the path for its _args import


def test_the_server_gets_no_api_key(serve_load: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "s3cret")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = serve_load.server_env()
    assert API_KEY_ENV not in env and env["OMP_NUM_THREADS"] == "1"


def test_failed_requests_or_no_throughput_mean_no_speedup(serve_load: ModuleType,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    good = {"mode": "on", "requests": 100, "errors": 0, "rps": 3.3, "p50": 9.0, "p99": 9.0, "p50_short": 9.0,
            "p50_long": 9.0, "per_call": 1.0}
    assert serve_load.failure([good, {**good, "mode": "off"}]) is None
    why = serve_load.failure([good, {**good, "mode": "off", "errors": 100, "rps": 0.0}])
    assert why == "batching off: 100 of 100 requests failed, 0.0 req/s"
    assert "batching on" in serve_load.failure([{**good, "errors": 1}, good])
    modes = iter([good, {**good, "mode": "off", "requests": 0, "rps": 0.0}])
    monkeypatch.setattr(serve_load, "measure", lambda cfg, batching: next(modes))
    monkeypatch.setattr(sys, "argv", ["serve_load.py"])
    with pytest.raises(SystemExit, match="no batching_speedup: batching off: 0 of 0"):
        serve_load.main()
