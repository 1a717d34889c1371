"""What every objective shares: its config base and the interface the trainer calls.

An objective is registered by name (``@register("objective", "mlm", MLMConfig)``), draws its own batches
from the :class:`~interlingua.data.pool.Pool` with a seeded generator, and returns
``(loss_sum, num_items, metrics)``: a *sum* over items, so the trainer can divide by the global item count
and keep gradient accumulation and data parallelism exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from interlingua.data.batches import TokenBatch
from interlingua.data.pool import Pool
from interlingua.tokenization.vocab import Vocab

LossOut = tuple[torch.Tensor, int, dict[str, float]]


@dataclass
class ObjectiveConfig:
    weight: float = 1.0
    """Multiplies this objective's (globally normalised) loss in the sum the trainer minimises."""


class Objective:
    name: ClassVar[str] = ""
    heads: ClassVar[tuple[str, ...]] = ()
    splittable: ClassVar[bool] = True
    """False when the loss couples rows of a batch (in-batch negatives): the trainer then keeps batches whole."""

    def __init__(self, cfg: Any, vocab: Vocab, max_len: int) -> None:
        self.cfg = cfg
        self.vocab = vocab
        self.max_len = max_len

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        raise NotImplementedError

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        raise NotImplementedError


def masked_positions(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D), (B, T) -> (N, D) hidden states and (N,) targets at the positions with a label."""
    keep = labels != -100  # (B, T)
    return hidden[keep], labels[keep]
