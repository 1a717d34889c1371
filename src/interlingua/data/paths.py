"""Where the shared corpora live.

The root is ``$INTERLINGUA_DATA`` when set; otherwise ``<repo>/../shared/corpora`` (next to the
checkout this package was installed from) and then ``../shared/corpora`` relative to the working
directory. Every reader goes through :func:`corpus_file`, so a missing file always produces the same
message naming the file and the root.
"""
from __future__ import annotations

import os
from pathlib import Path

from interlingua.errors import CorpusError

ENV_VAR = "INTERLINGUA_DATA"


def _default_roots() -> list[Path]:
    # paths.py -> data -> interlingua -> src -> repo root
    repo = Path(__file__).resolve().parents[3]
    return [repo.parent / "shared" / "corpora", Path.cwd().parent / "shared" / "corpora"]


def data_root() -> Path:
    """The corpora folder; raises CorpusError explaining how to set INTERLINGUA_DATA when absent."""
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise CorpusError(
                f"{ENV_VAR}={env} is not a folder; point it at the corpora folder "
                f"(the one holding README.md and manifest.json), e.g. export {ENV_VAR}=/path/to/shared/corpora"
            )
        return root
    candidates = _default_roots()
    for root in candidates:
        if root.is_dir():
            return root
    looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise CorpusError(
        f"corpus data not found (looked in {looked}); set {ENV_VAR} to the corpora folder "
        f"(the one holding README.md and manifest.json), e.g. export {ENV_VAR}=/path/to/shared/corpora"
    )


def corpus_file(rel: str) -> Path:
    """``data_root() / rel``; raises CorpusError naming the missing file and the root."""
    root = data_root()
    path = root / rel
    if not path.is_file():
        raise CorpusError(f"corpus file {rel} not found under data root {root} (set {ENV_VAR} to change the root)")
    return path


def list_codes(rel_dir: str, suffix: str) -> list[str]:
    """Sorted file stems in ``data_root()/rel_dir`` that end with ``suffix`` (suffix removed)."""
    folder = data_root() / rel_dir
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {rel_dir} not found under data root {data_root()}")
    return sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))


def cache_root() -> Path:
    """``$INTERLINGUA_CACHE``, default ``~/.cache/interlingua``: derived data worth keeping between runs."""
    return Path(os.environ.get("INTERLINGUA_CACHE") or Path.home() / ".cache" / "interlingua").expanduser()
