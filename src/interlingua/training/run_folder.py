"""Run-folder safety: one writer at a time, no silent reuse of a stale folder, no silent change on resume.

- :class:`RunLock` takes an exclusive ``flock`` on ``RUN/.lock`` (holding the writer's pid) for as long as
  a training job runs; a second job on the same folder gets an error naming the holder.
- :func:`fresh_start` refuses a fresh run in a non-empty folder unless ``overwrite``; then the files a run
  writes are moved aside (and put back by :func:`restore_aside` if set-up fails), anything else is kept.
- :func:`check_resume` compares a resumed config with the one the run was started with, key by key.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from interlingua.errors import ConfigError, OutputError

LOCK = ".lock"
ASIDE = ".overwritten"
RUN_FILES = ("interlingua.json", "tokenizer", "model.safetensors", "checkpoints", "metrics.jsonl", "loss.png")
# Keys a resumed run may change: budgets, cadences, threads and device; everything else shapes the weights.
RESUMABLE = ("name", "train.steps", "train.max_minutes", "train.log_every", "train.ckpt_every", "train.ckpt_minutes",
             "train.keep_checkpoints", "train.threads", "train.device", "train.skip_nonfinite", "eval.")


class RunLock:
    """``with RunLock(run_dir):`` exclusive ownership of a run folder (a no-op when ``enabled`` is false)."""

    def __init__(self, run_dir: Path, enabled: bool = True,
                 hint: str = "another training process uses it; wait for it to finish or choose another --run-dir") -> None:
        self.path, self.enabled, self.fd, self.hint = run_dir / LOCK, enabled, -1, hint

    def __enter__(self) -> "RunLock":
        if not self.enabled:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise OutputError(f"{self.path.parent} is in use (pid {holder}, lock {self.path}): {self.hint}") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def contents(run_dir: Path) -> list[Path]:
    """What the folder holds, besides the lock file."""
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if p.name != LOCK)


def refuse_used(run_dir: Path) -> None:
    """A fresh run (no ``--overwrite``) may only start in an empty or absent folder."""
    found = contents(run_dir)
    if found:
        names = ", ".join(p.name for p in found[:6]) + (", ..." if len(found) > 6 else "")
        raise OutputError(f"{run_dir} is not empty ({names}): pass --resume to continue the run in it, "
                          "--overwrite to replace the run files in it, or choose another --run-dir")


def fresh_start(run_dir: Path, overwrite: bool) -> Path | None:
    """Check that a fresh run may start in ``run_dir``; with ``overwrite``, move the old run's files aside
    into ``RUN/.overwritten`` and return that folder (for :func:`restore_aside` / :func:`drop_aside`)."""
    found = contents(run_dir)
    if not found:
        return None
    if not overwrite:
        refuse_used(run_dir)
    aside = run_dir / ASIDE
    if aside.exists():
        raise OutputError(f"{aside} is left from an interrupted --overwrite; move or delete it first")
    ours = [p for p in found if p.name in RUN_FILES]
    aside.mkdir()
    for p in ours:
        os.replace(p, aside / p.name)
    return aside


def restore_aside(run_dir: Path, aside: Path | None) -> None:
    """Set-up failed: remove what the new run wrote and put the old run's files back."""
    if aside is None or not aside.is_dir():
        return
    for p in aside.iterdir():
        new = run_dir / p.name
        if new.is_dir():
            shutil.rmtree(new)
        elif new.exists():
            new.unlink()
        os.replace(p, new)
    aside.rmdir()


def drop_aside(aside: Path | None) -> None:
    if aside is not None and aside.is_dir():
        shutil.rmtree(aside)


def remove_if_only_lock(run_dir: Path) -> None:
    """A fresh run that failed before writing anything leaves no folder behind (only its lock file)."""
    if run_dir.is_dir() and not contents(run_dir):
        (run_dir / LOCK).unlink(missing_ok=True)
        run_dir.rmdir()


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in tree.items():
        if isinstance(val, dict) and val:
            out.update(_flatten(val, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = val  # an empty mapping stays a key (an objective with no options)
    return out


def _may_change(key: str) -> bool:
    return any(key.startswith(r) if r.endswith(".") else key == r for r in RESUMABLE)


def stored_config(run_dir: Path) -> dict[str, Any]:
    marker = run_dir / "interlingua.json"
    try:
        return json.loads(marker.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"--resume: cannot read the run's config {marker}: {exc}") from None


def check_resume(run_dir: Path, new: dict[str, Any], sections: tuple[str, ...]) -> None:
    """Raise naming every key of ``sections`` whose value differs from the run's and may not change."""
    from interlingua.config import RunConfig, to_dict

    # A key the run's config lacks (written by an older version) counts as having its default value.
    defaults = {k: v for k, v in _flatten(to_dict(RunConfig())).items() if not k.startswith("objectives.")}
    old_flat = {**defaults, **_flatten(stored_config(run_dir))}
    new_flat = _flatten(new)
    keys = sorted(k for k in set(old_flat) | set(new_flat) if k.split(".")[0] in sections)
    changed = [f"{k}: {old_flat.get(k, '<unset>')!r} -> {new_flat.get(k, '<unset>')!r}" for k in keys
               if old_flat.get(k) != new_flat.get(k) and not _may_change(k)]
    if changed:
        raise ConfigError(f"--resume of {run_dir}: these keys cannot change on resume (run started with the "
                          f"left value): {'; '.join(changed)}. Start a new run (another --run-dir) instead")
