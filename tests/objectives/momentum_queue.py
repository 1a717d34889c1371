"""Momentum-queue ranking: the worked example of docs/adding-an-objective.md (a small stateful objective).

    q_i = ‖pool(f_θ(x_i))‖₂,   k_j = ‖pool(f_ξ(y_j))‖₂,   ξ ← m·ξ + (1 − m)·θ after every optimizer step
    L = − Σ_i log e^{s q_iᵀk_i} / (Σ_{j ∈ batch} e^{s q_iᵀk_j} + Σ_{u ∈ queue} e^{s q_iᵀu})

Queries go through the trained encoder f_θ, keys through its momentum twin f_ξ (no gradient); the keys of
the last ``queue_size`` pairs are extra negatives (MoCo; InfoXLM's XLCO is this with hard negatives).
State (training-only, checkpointed, not exported): the twin and the queue. Every process gathers the
global batch's keys, so the twin and the queue stay identical on all processes.
Inputs: translation pairs. Summed over rows; one item per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.models.encoder import ema_update, momentum_copy
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.queue import KeyQueue
from interlingua.objectives.translation_ranking import embed, gather_rows, ranking_loss_sum, sample_pair_batch
from interlingua.registry import register


@dataclass
class MomentumQueueConfig(ObjectiveConfig):
    momentum: float = 0.9
    queue_size: int = 8
    scale: float = 20.0


class MomentumState(nn.Module):
    """The twin encoder and a first-in-first-out queue of keys (``queue.queued()``: the valid rows)."""

    def __init__(self, encoder: nn.Module, size: int, dim: int) -> None:
        super().__init__()
        self.twin = momentum_copy(encoder).eval()
        self.queue = KeyQueue(size, dim)


@register("objective", "momentum_queue", MomentumQueueConfig)
class MomentumQueue(Objective):
    name = "momentum_queue"
    needs = ("pairs",)
    splittable = False  # the queue and in-batch keys couple rows

    def build_state(self, model: nn.Module) -> nn.Module:
        self.pending: list[torch.Tensor] = []
        return MomentumState(model.encoder, self.cfg.queue_size, model.cfg.d_model)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        return sample_pair_batch(pool, n, gen, self.vocab, self.max_len)

    def __call__(self, model: nn.Module, batch: PairBatch) -> LossOut:
        q = F.normalize(embed(model.encoder, batch.src, "mean"), dim=-1)  # (B, D)
        with torch.no_grad():
            k = F.normalize(embed(self.state.twin, batch.tgt, "mean"), dim=-1)  # (B, D)
        keys, offset = gather_rows(k)  # (C, D), the same on every process
        labels = offset + torch.arange(len(q), device=q.device)  # query i's positive: key offset + i
        loss, correct = ranking_loss_sum(q, keys, labels, 0.0, self.cfg.scale, extra=self.state.queue.queued())
        self.pending.append(keys)
        n = len(batch)
        return loss, n, {"train/momentum_queue/loss_sum": float(loss.detach()),
                         "train/momentum_queue/correct": float(correct), "train/momentum_queue/n": n}

    def skip_step(self) -> None:
        self.pending = []  # keys of a step that made no update are not queued

    def after_step(self, model: nn.Module, step: int) -> None:
        ema_update(self.state.twin, model.encoder, self.cfg.momentum)
        for keys in self.pending:
            self.state.queue.push(keys)
        self.pending = []
