"""Load test of ``interlingua serve`` on loopback: throughput and latency with request batching on and off.

    python benchmarks/serve_load.py [--model baseline:me5-small --clients 32 --seconds 30 --long-share 0.25
        --window-ms 2 --batch-tokens 16384 --warmup 3 --threads 0 --int8]

For each mode the server runs in its own process (``python -m interlingua.cli serve``, batching on, then
``--no-batching``); ``clients`` threads, each with one keep-alive connection, send ``POST /v1/embeddings``
with one sentence (``encoding_format=base64``, what the ``openai`` client asks for) back to back for
``seconds`` after ``warmup`` seconds that are not counted. A request is a long sentence (about 90 words)
with probability ``long_share``, else a short one (5-10 words), drawn per client from a fixed seed.

Printed per mode: requests, errors, requests/s, p50 / p99 latency (ms), p50 of short and of long requests,
and the server's mean number of requests per embedding call (from ``/health``, warm-up included). Last line:
``batching_speedup=X.XX`` (requests/s with batching over without). When a request of either mode failed or a
mode served nothing, no speedup is printed: the reason (and the server's log) go to stderr, exit status 1.
The servers run without ``$INTERLINGUA_API_KEY`` (the clients send no key), their log in a temporary file.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from interlingua.serve.config import API_KEY_ENV  # light: no torch, no FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _args import parse_dataclass_args  # noqa: E402

SHORT = [
    "The weather is nice today.", "Wo ist der Bahnhof?", "Je voudrais un café, s'il vous plaît.",
    "¿Cuánto cuesta este libro?", "Я не понимаю этот вопрос.", "我明天要去北京。", "Dziękuję bardzo za pomoc.",
    "Het regent al de hele dag.", "Questo treno va a Roma?", "Bu kitabı çok sevdim.", "Η θάλασσα είναι ήρεμη.",
    "Minä asun pienessä kaupungissa.", "She closed the window because it was cold.", "Ich habe keine Zeit.",
    "私は毎朝コーヒーを飲みます。", "O gato dorme no sofá.",
]


@dataclass
class Settings:
    model: str = "baseline:me5-small"
    clients: int = 32
    seconds: float = 30.0
    warmup: float = 3.0
    long_share: float = 0.25
    window_ms: float = 2.0
    batch_tokens: int = 16384
    startup_timeout: float = 600.0
    threads: int = 0
    int8: bool = False


def long_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(SHORT) for _ in range(12))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict[str, str]:
    """This process's environment without an API key: a key there would make every request a 401."""
    return {k: v for k, v in os.environ.items() if k != API_KEY_ENV}


def start_server(cfg: Settings, batching: bool, log: IO[str]) -> tuple[subprocess.Popen, int]:
    """The server's stderr goes to ``log``: a pipe nobody reads would block it once its buffer filled."""
    port = free_port()
    cmd = [sys.executable, "-m", "interlingua.cli", "serve", "--model", cfg.model, "--port", str(port),
           "--batch-window-ms", str(cfg.window_ms), "--batch-tokens", str(cfg.batch_tokens)]
    cmd += [] if batching else ["--no-batching"]
    cmd += ["--int8"] if cfg.int8 else []
    cmd += ["--threads", str(cfg.threads)] if cfg.threads else []
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=server_env())
    deadline = time.monotonic() + cfg.startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{tail(log)}")
        try:
            if get_json(port, "/health")["status"] == "ok":
                return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"server did not answer /health within {cfg.startup_timeout:.0f} s")


def tail(log: IO[str], chars: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-chars:]


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def client(port: int, seed: int, cfg: Settings, stop: float, out: list[tuple[float, float, int, bool]]) -> None:
    """Requests back to back until ``stop``; appends (sent time, latency s, status, long) of each."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    while (now := time.monotonic()) < stop:
        is_long = rng.random() < cfg.long_share
        text = long_sentence(rng) if is_long else rng.choice(SHORT)
        body = json.dumps({"input": [text], "encoding_format": "base64"})
        try:
            conn.request("POST", "/v1/embeddings", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            status = 0
        out.append((now, time.monotonic() - now, status, is_long))
    conn.close()


def measure(cfg: Settings, batching: bool) -> dict:
    with tempfile.TemporaryFile("w+") as log:
        result = run_mode(cfg, batching, log)
        if result["errors"] or not result["rps"]:
            print(f"server log ({result['mode']}), last lines:\n{tail(log)}", file=sys.stderr)
    return result


def run_mode(cfg: Settings, batching: bool, log: IO[str]) -> dict:
    proc, port = start_server(cfg, batching, log)
    try:
        start = time.monotonic()
        counted_from, stop = start + cfg.warmup, start + cfg.warmup + cfg.seconds
        logs: list[list] = [[] for _ in range(cfg.clients)]
        threads = [threading.Thread(target=client, args=(port, i, cfg, stop, logs[i]))
                   for i in range(cfg.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = get_json(port, "/health")["batching"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rows = [r for log in logs for r in log if r[0] >= counted_from]
    ok = [(lat * 1000, is_long) for _, lat, status, is_long in rows if status == 200]
    return {"mode": "on" if batching else "off", "requests": len(rows), "errors": len(rows) - len(ok),
            "rps": len(ok) / cfg.seconds, "p50": pct([t for t, _ in ok], 50), "p99": pct([t for t, _ in ok], 99),
            "p50_short": pct([t for t, long in ok if not long], 50), "p50_long": pct([t for t, long in ok if long], 50),
            "per_call": stats["mean_requests_per_call"]}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def failure(results: list[dict]) -> str | None:
    """Why the speedup would mean nothing (a failed request, a mode that served nothing), or None."""
    bad = [f"batching {r['mode']}: {r['errors']} of {r['requests']} requests failed, {r['rps']:.1f} req/s"
           for r in results if r["errors"] or not r["rps"]]
    return "; ".join(bad) or None


def main() -> None:
    cfg = parse_dataclass_args(Settings, __doc__.splitlines()[0])
    print(f"model {cfg.model}, {cfg.clients} clients, {cfg.seconds:.0f} s (+{cfg.warmup:.0f} s warm-up), "
          f"{cfg.long_share:.0%} long sentences, window {cfg.window_ms} ms, {'int8' if cfg.int8 else 'fp32'}")
    print(f"{'batching':<9}{'requests':>9}{'errors':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p50 short':>10}"
          f"{'p50 long':>9}{'req/call':>9}")
    results = {}
    for batching in (True, False):
        r = results[batching] = measure(cfg, batching)
        print(f"{r['mode']:<9}{r['requests']:>9}{r['errors']:>7}{r['rps']:>9.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
              f"{r['p50_short']:>10.1f}{r['p50_long']:>9.1f}{r['per_call']:>9.2f}", flush=True)
    why = failure(list(results.values()))
    if why:
        raise SystemExit(f"no batching_speedup: {why}")
    print(f"batching_speedup={results[True]['rps'] / results[False]['rps']:.2f}")


if __name__ == "__main__":
    main()
