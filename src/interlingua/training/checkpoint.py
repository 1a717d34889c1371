"""Checkpoints in safetensors, written atomically, read without pickle.

Layout of ``RUN/checkpoints/step-00001000/``::

    model.safetensors       encoder + heads
    optim.safetensors       AdamW moments and step counts, keyed ``state.<param index>.<name>``
    rng-rank<r>.safetensors the CPU (and CUDA) generator state of each process
    objectives.safetensors  training-only objective state (momentum twins, queues), when there is any
    state.json              step, optimizer hyper-parameters per group, trainer counters
    checksums.json          SHA-256 of every file above, verified before a resume reads any of them

A checkpoint is first written to a ``.tmp`` folder and renamed into place, and ``RUN/checkpoints/latest``
(one line: the folder name) is replaced atomically afterwards: a crash at any point leaves the previous
checkpoint intact and ``latest`` pointing at a complete one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from interlingua.errors import CheckpointError
from interlingua.io_safety import load_safetensors
from interlingua.weights import atomic_write_text, latest_checkpoint, load_model, save_model  # re-exported


CHECKSUMS = "checksums.json"
OBJECTIVES = "objectives.safetensors"  # training-only state of the objectives (momentum twins, queues)


def _optim_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    sd = optimizer.state_dict()
    tensors = {
        f"state.{idx}.{name}": (val if torch.is_tensor(val) else torch.tensor(val)).contiguous().cpu()
        for idx, st in sd["state"].items()
        for name, val in st.items()
    }
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def _optim_state(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, val in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = val
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    out = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def restore_rng(tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(tensors["cpu"])
    if device.type == "cuda" and "cuda" in tensors:
        torch.cuda.set_rng_state(tensors["cuda"], device)


def write_checkpoint(
    ckpt_root: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, extra: dict[str, Any],
    objective_states: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write model, optimizer, objective states and rank-0 RNG for ``step`` into ``step-N.tmp``; other ranks'
    RNG goes through :func:`write_rng`, and :func:`commit_checkpoint` puts the folder in place."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    tmp = ckpt_root / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, tmp / "model.safetensors")
    tensors, groups = _optim_tensors(optimizer)
    save_file(tensors, str(tmp / "optim.safetensors"))
    if objective_states:
        save_file({k: v.detach().contiguous().cpu() for k, v in objective_states.items()}, str(tmp / OBJECTIVES))
    atomic_write_text(tmp / "state.json", json.dumps({"step": step, "param_groups": groups, **extra}, indent=1))
    return tmp


def write_rng(tmp_dir: Path, rank: int, device: torch.device) -> None:
    save_file(rng_tensors(device), str(tmp_dir / f"rng-rank{rank}.safetensors"))


def read_objective_states(path: Path) -> dict[str, torch.Tensor]:
    """The objective-state tensors of a checkpoint folder ({} when it has none)."""
    return load_safetensors(path / OBJECTIVES) if (path / OBJECTIVES).exists() else {}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def commit_checkpoint(tmp_dir: Path, keep: int = 2) -> Path:
    """Record a SHA-256 per file, rename the finished ``.tmp`` folder into place, point ``latest`` at it,
    prune the oldest beyond ``keep`` (never the one just written)."""
    sums = {p.name: sha256_file(p) for p in sorted(tmp_dir.iterdir()) if p.is_file()}
    atomic_write_text(tmp_dir / CHECKSUMS, json.dumps(sums, indent=1))
    final = tmp_dir.with_suffix("")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp_dir, final)
    atomic_write_text(final.parent / "latest", final.name + "\n")
    done = sorted(p for p in final.parent.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in done[:-max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify_checkpoint(path: Path) -> None:
    """Every file listed in ``checksums.json`` exists with its recorded SHA-256 (catches flipped bytes)."""
    listed = path / CHECKSUMS
    if not listed.exists():
        warnings.warn(f"{path} has no {CHECKSUMS} (written by an older interlingua): not verified", stacklevel=2)
        return
    for name, digest in json.loads(listed.read_text(encoding="utf-8")).items():
        f = path / name
        if not f.exists():
            raise CheckpointError(f"{f} is missing (listed in {listed})")
        if sha256_file(f) != digest:
            raise CheckpointError(f"{f} is corrupted: its SHA-256 differs from the one recorded in {listed} when it "
                                  "was written; resume from an earlier checkpoint (point checkpoints/latest at it)")


def read_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rank: int, device: torch.device
) -> dict[str, Any]:
    """Restore model, optimizer and this rank's RNG; return state.json's contents."""
    verify_checkpoint(path)
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    load_model(model, path / "model.safetensors")
    optim = load_safetensors(path / "optim.safetensors")
    try:
        optimizer.load_state_dict(_optim_state(optim, state.pop("param_groups")))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path / 'optim.safetensors'} does not fit this run's optimizer: {exc}") from None
    rng = path / f"rng-rank{rank}.safetensors"
    if not rng.exists():
        raise CheckpointError(f"{path} has no RNG state for rank {rank} (was it written with another world size?)")
    restore_rng(load_safetensors(rng), device)
    return state
