"""Model weights on disk: a state dict to and from safetensors, atomic text files, and the ``latest`` pointer.

Below both ``training`` (which writes checkpoints, see :mod:`interlingua.training.checkpoint`) and
``models`` / ``evaluation`` (which load finished runs), so loading a run never imports the trainer.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from interlingua.errors import CheckpointError
from interlingua.io_safety import load_safetensors


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_model(model: torch.nn.Module, path: Path) -> None:
    """State dict -> safetensors (contiguous copies; tied weights are stored once by construction)."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def load_model(model: torch.nn.Module, path: Path, strict: bool = True) -> None:
    if not path.exists():
        raise CheckpointError(f"no weights at {path}")
    state = load_safetensors(path)  # an empty or truncated file: a CheckpointError naming it
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape: the model's config differs from the file's
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:4])
        raise CheckpointError(f"{path}: weights do not fit the model ({detail})") from None
    if strict and (missing or unexpected):
        raise CheckpointError(f"{path}: weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The checkpoint folder ``ckpt_root/latest`` names, None when there is no pointer yet."""
    pointer = ckpt_root / "latest"
    if not pointer.exists():
        return None
    path = ckpt_root / pointer.read_text(encoding="utf-8").strip()
    if not (path / "state.json").exists():
        raise CheckpointError(f"{pointer} names {path.name}, which is incomplete or missing")
    return path
