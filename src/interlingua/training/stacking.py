"""Progressive stacking: train a shallow encoder, then copy its blocks on top of themselves and go on.

    stages [[0, L/4], [s₁, L/2], [s₂, L]]:   steps [0, s₁) run blocks 0..L/4-1;
    at s₁ blocks [0, L/4) are copied onto [L/4, L/2) (exact state_dict copies), and so on.

Blocks not yet active get no gradient: they are frozen (``requires_grad=False``), so DDP, which only
tracks trainable parameters, must be rebuilt at a boundary (the trainer does). The copied blocks start
with a fresh optimizer state. Any encoder recipe can use it through ``train.stacking``.
Reference: Gong et al. 2019, Efficient Training of BERT by Progressively Stacking; Feng et al. 2022, LaBSE.
"""
from __future__ import annotations

import torch

from interlingua.models.encoder import Encoder


def active_layers(step: int, stages: list[list[int]]) -> int | None:
    """Blocks the encoder runs at ``step`` (None: all, when stacking is off)."""
    depth = None
    for start, n_layers in stages:
        if step >= start:
            depth = n_layers
    return depth


def is_boundary(step: int, stages: list[list[int]]) -> bool:
    """True at the first step of every stage but the first: time to grow."""
    return any(start == step for start, _ in stages[1:])


def encoders(model: torch.nn.Module) -> list[Encoder]:
    """Every trained encoder of the model (the shared one, and e.g. a separate target encoder); a frozen
    momentum twin (``momentum_copy``) follows its online encoder by EMA and is never unfrozen here."""
    return [m for m in model.modules() if isinstance(m, Encoder) and not getattr(m, "momentum_twin", False)]


def set_depth(model: torch.nn.Module, depth: int | None) -> None:
    """Run the first ``depth`` blocks of every encoder and freeze the others."""
    for enc in encoders(model):
        enc.active_layers = depth
        for i, block in enumerate(enc.layers):
            block.requires_grad_(depth is None or i < depth)


@torch.no_grad()
def grow(model: torch.nn.Module, optimizer: torch.optim.Optimizer, depth: int) -> None:
    """Copy blocks [0, depth/2) onto [depth/2, depth), reset their optimizer state, and activate them."""
    half = depth // 2
    for enc in encoders(model):
        for i in range(half):
            enc.layers[half + i].load_state_dict(enc.layers[i].state_dict())
            for p in enc.layers[half + i].parameters():
                optimizer.state.pop(p, None)
    set_depth(model, depth)
