"""``interlingua serve`` settings: one typed dataclass, its command-line flags and their checks.

Imports nothing heavy (no torch, no FastAPI), so that ``interlingua --help`` stays fast.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from interlingua.errors import ConfigError

API_KEY_ENV = "INTERLINGUA_API_KEY"
OVERLENGTH = ("truncate", "error")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")  # as a Host header spells them


@dataclass
class ServeConfig:
    """What the server loads and how it answers; each field is a ``--flag`` (underscores as dashes)."""

    model: str = "baseline:me5-small"
    """run folder, Hugging Face / sentence-transformers folder or baseline:me5-small (what load_encoder accepts)"""
    index: list[str] = field(default_factory=list)
    """sentences for /search: PATH (.txt: one a line; .tsv: lang<TAB>sentence) or LANG:PATH, repeatable"""
    index_file: str | None = None
    """saved index (FAISS file + PATH.json): loaded when it matches --index and the model, else (re)built here"""
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    """bearer token every request needs (default $INTERLINGUA_API_KEY; none: no auth)"""
    allowed_host: list[str] = field(default_factory=list)
    """Host header names answered besides localhost, 127.0.0.1 and [::1] when bound to loopback without a key
    ('*': any), repeatable; other names get 400, so a web page cannot reach the server by DNS rebinding"""
    cors_origin: list[str] = field(default_factory=list)
    """origins allowed to call the API from a browser (CORS stays off without one), repeatable"""
    model_name: str | None = None
    """the name /v1/embeddings reports and accepts (default: the --model spec)"""
    batching: bool = True
    batch_window_ms: float = 2.0
    """how long the first waiting request waits for others to share its forward pass"""
    batch_tokens: int = 16384
    """token budget of one merged batch (a larger single request still runs, alone)"""
    batch_size: int = 64
    """most sentences in one forward pass (long ones go in smaller passes, as in interlingua.encode)"""
    max_inputs: int = 2048
    """most inputs in one /v1/embeddings request (OpenAI's limit)"""
    overlength: str = "truncate"
    """an input that fills the model's length: truncate it, or answer 413 ('error'); a request's truncate overrides"""
    max_k: int = 100
    """most results one /search may ask for"""
    align_max_words: int = 128
    """most words a side of one /align request may have"""
    max_body_bytes: int = 16 * 2**20
    """larger request bodies get 413 before they are read"""
    int8: bool = False
    """dynamic int8 linear layers on CPU: faster, but a vector then depends on its batch companions"""
    device: str | None = None
    threads: int = 0
    """torch's intra-op threads (0: torch's default, one per core)"""
    access_log: bool = False

    def __post_init__(self) -> None:
        if self.api_key is None:
            self.api_key = os.environ.get(API_KEY_ENV) or None
        if self.overlength not in OVERLENGTH:
            raise ConfigError(f"--overlength must be one of {', '.join(OVERLENGTH)}, got {self.overlength!r}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be in 0..65535, got {self.port}")
        if self.threads < 0:
            raise ConfigError(f"--threads must be >= 0, got {self.threads}")
        if self.batch_window_ms < 0:
            raise ConfigError(f"--batch-window-ms must be >= 0, got {self.batch_window_ms}")
        for name in ("batch_tokens", "batch_size", "max_inputs", "max_k", "align_max_words", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("--api-key is empty")

    @property
    def served_name(self) -> str:
        return self.model_name or self.model

    @property
    def trusted_hosts(self) -> frozenset[str] | None:
        """Host names the server answers, or None for any. Only a loopback server without a key checks: a page
        whose name an attacker rebinds to 127.0.0.1 reaches it with the attacker's name in Host, while a key
        (which the page does not have) or an exposed address makes the check moot."""
        if self.host not in LOOPBACK or self.api_key or "*" in self.allowed_host:
            return None
        return frozenset(LOOPBACK_NAMES) | {h.strip().lower() for h in self.allowed_host}

    @property
    def exposed(self) -> bool:
        """True when the server listens beyond this machine without a key: worth a warning."""
        return self.host not in LOOPBACK and not self.api_key


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``interlingua serve`` flags, from :class:`ServeConfig`'s fields."""
    p.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    p.add_argument("--model", default=ServeConfig.model, help=_doc("model"))
    p.add_argument("--index", action="append", default=[], help=_doc("index"))
    p.add_argument("--index-file", help=_doc("index_file"))
    p.add_argument("--host", default=ServeConfig.host, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=ServeConfig.port, help="TCP port (0: any free one)")
    p.add_argument("--api-key", help=_doc("api_key"))
    p.add_argument("--allowed-host", action="append", default=[], help=_doc("allowed_host"))
    p.add_argument("--cors-origin", action="append", default=[], help=_doc("cors_origin"))
    p.add_argument("--model-name", help=_doc("model_name"))
    p.add_argument("--no-batching", dest="batching", action="store_false",
                   help="run every request in its own forward pass (for comparison)")
    p.add_argument("--batch-window-ms", type=float, default=ServeConfig.batch_window_ms, help=_doc("batch_window_ms"))
    for name in ("batch_tokens", "batch_size", "max_inputs", "max_k", "align_max_words", "max_body_bytes"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(ServeConfig, name), help=_doc(name))
    p.add_argument("--overlength", choices=OVERLENGTH, default=ServeConfig.overlength, help=_doc("overlength"))
    p.add_argument("--int8", action="store_true", help=_doc("int8"))
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=ServeConfig.threads, help=_doc("threads"))
    p.add_argument("--access-log", action="store_true", help="log every request (off: a load test would flood it)")


def from_args(a: argparse.Namespace) -> ServeConfig:
    names = ServeConfig.__dataclass_fields__
    return ServeConfig(**{k: v for k, v in vars(a).items() if k in names})


def _doc(name: str) -> str:
    """The attribute docstring of a :class:`ServeConfig` field, read from this file's source."""
    return _DOCS.get(name, "")


def _attribute_docs() -> dict[str, str]:
    import ast
    import inspect

    body = ast.parse(inspect.getsource(ServeConfig)).body[0].body
    docs = {}
    for prev, node in zip(body, body[1:]):
        if isinstance(prev, ast.AnnAssign) and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs[prev.target.id] = str(node.value.value)
    return docs


_DOCS = _attribute_docs()
