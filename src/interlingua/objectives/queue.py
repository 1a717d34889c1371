"""A first-in-first-out queue of past keys, the negatives of momentum-contrast objectives (MoCo, InfoXLM's XLCO).

Buffers, not parameters: checkpointed with the objective's state, never exported, never touched by DDP.
"""
from __future__ import annotations

import torch
from torch import nn


class KeyQueue(nn.Module):
    """``size`` rows of ``dim``, newest first; ``filled`` counts the valid rows (it starts empty)."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Put (N, dim) keys in front; the oldest rows beyond ``size`` drop out."""
        self.filled.fill_(min(int(self.filled) + len(keys), len(self.keys)))
        self.keys.copy_(torch.cat([keys.to(self.keys.dtype), self.keys])[: len(self.keys)])

    def queued(self) -> torch.Tensor:
        """(filled, dim) the valid rows, newest first."""
        return self.keys[: int(self.filled)]
