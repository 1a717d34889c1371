"""A tiny run folder (``tests.test_encode.make_run``: word-level vocabulary, d=32, 2 layers, 32 positions),
index files over its words, and a live server on a free loopback port, run by uvicorn in a thread."""
from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
import uvicorn

from interlingua.serve.config import API_KEY_ENV, ServeConfig
from interlingua.serve.server import build_app
from tests.test_encode import make_run

DEU = ["der hund", "die katze", "das haus rot", "der hund blau", "die katze rot haus"]
ENG = ["the dog", "the cat sleeps", "a big red house", "the small blue dog runs", "a cat"]
FRA = ["le chien", "la chat", "la maison rouge", "le chat dog"]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("serve") / "run")


@pytest.fixture(scope="session")
def index_specs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``deu:deu.txt`` (plain text, blank line and a duplicate included) and ``mixed.tsv`` (eng and fra)."""
    folder = tmp_path_factory.mktemp("index")
    (folder / "deu.txt").write_text("\n".join(DEU[:2] + [""] + DEU[2:] + [DEU[0]]) + "\n", encoding="utf-8")
    rows = [f"eng\t{s}" for s in ENG] + [f"fra\t{s}" for s in FRA]
    (folder / "mixed.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return [f"deu:{folder / 'deu.txt'}", str(folder / "mixed.tsv")]


class Chunked(bytes):
    """A body :class:`LiveServer` sends with ``Transfer-Encoding: chunked`` (no Content-Length), 8 KiB a chunk."""

    def chunks(self) -> list[bytes]:
        return [self[i: i + 8192] for i in range(0, len(self), 8192)]


class LiveServer:
    """``request`` returns (status, parsed JSON or text); one connection per call unless ``conn`` is given."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: object = None, headers: dict | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, object]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        own = conn is None
        conn = conn or self.connect()
        try:
            payload = iter(data.chunks()) if isinstance(data, Chunked) else data
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})},
                         encode_chunked=isinstance(data, Chunked))
            response = conn.getresponse()
            raw = response.read()
        finally:
            if own:
                conn.close()
        is_json = response.getheader("content-type", "").startswith("application/json")
        return response.status, json.loads(raw) if is_json else raw.decode()

    def post(self, path: str, body: object, **kw: object) -> tuple[int, object]:
        return self.request("POST", path, body, **kw)


@contextmanager
def live_server(cfg: ServeConfig) -> Iterator[LiveServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(build_app(cfg), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the test server did not start"
    try:
        yield LiveServer(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def server(run_dir: Path, index_specs: list[str]) -> Iterator[LiveServer]:
    with mock.patch.dict(os.environ, {API_KEY_ENV: ""}):  # no key from the environment: these tests send none
        cfg = ServeConfig(model=str(run_dir), index=index_specs, model_name="tiny", max_inputs=8, max_k=20,
                          batch_window_ms=20, max_body_bytes=65536)
    with live_server(cfg) as live:
        yield live
