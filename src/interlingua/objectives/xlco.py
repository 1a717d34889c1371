"""XLCO, InfoXLM's cross-lingual contrast: MoCo over translation pairs with a momentum twin and a queue.

    q = W·h_θ(x),   k = W'·h_ξ(y)      h: layer K's [CLS] (or mean) state, W: D×D, no bias
    L(x→y) = −log e^{q·k/τ} / (e^{q·k/τ} + Σ_{n ∈ queue} e^{q·n/τ})
    L = L(x→y) + L(y→x)                 (``bidirectional``: x and y swap roles)
    (ξ, W') ← m·(ξ, W') + (1 − m)·(θ, W)   after every optimizer step

Only a pair's own key is its positive and only the queue gives negatives (the other keys of the batch are
masked out, as MoCo and InfoXLM do). The queue is first-in-first-out, newest first, filled with the keys
of the *global* batch (every process gathers them, so the queue is the same on all of them); it starts
empty and the loss uses its filled rows only, so the first steps contrast against fewer negatives (a
warm-up; InfoXLM fills 131,072 keys, CPU runs want a few thousand). With ``normalize`` q and k are
L2-normalised first. State (training-only, checkpointed, not exported): the twin encoder, the twin
projection, the queue. Defaults follow InfoXLM's code: m = 0.9999, τ = 0.25, [CLS] of layer 8 (``layer``;
-1 = the last layer). The trainable projection W is the head ``xlco_proj``.
Inputs: translation pairs. Summed over rows; one item per row and direction counted once.
Reference: Chi et al. 2021, InfoXLM: An Information-Theoretic Framework for Cross-Lingual Language Model
Pre-Training (NAACL). ``mixup``: InfoXLM's mix-up contrast (two pairs per row).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.models.encoder import ema_update, momentum_copy
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.queue import KeyQueue
from interlingua.objectives.translation_ranking import embed, gather_rows, ranking_loss_sum, sample_pair_batch
from interlingua.registry import register


@dataclass
class XLCOConfig(ObjectiveConfig):
    momentum: float = 0.9999
    queue_size: int = 4096
    temperature: float = 0.25
    layer: int = 8
    """Hidden state pooled for q and k: 1..L, or -1 for the last layer."""
    pooling: str = "cls"
    normalize: bool = True
    bidirectional: bool = True
    mixup: bool = False
    """InfoXLM's mix-up contrast inputs: each row joins two pairs, ``<s> x_a </s> x_b </s>`` against
    ``<s> y_a </s> y_b </s>``, each side's order random on its own."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"objectives.xlco.momentum must lie in [0, 1), got {self.momentum}")
        if self.queue_size < 1 or self.temperature <= 0:
            raise ConfigError("objectives.xlco: queue_size must be >= 1 and temperature > 0, got "
                              f"{self.queue_size} and {self.temperature}")
        if self.pooling not in ("cls", "mean"):
            raise ConfigError(f"objectives.xlco.pooling must be 'cls' or 'mean', got {self.pooling!r}")


def xlco_loss_sum(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor,
                  temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D) queries, (B, D) their keys, (Q, D) queued keys -> (Σ_i L_i, count of rows whose own key wins):
    the ranking core with the batch's other keys masked out and the queue as extra negatives."""
    others = ~torch.eye(len(q), dtype=torch.bool, device=q.device)  # (B, B): only row i's own key is a candidate
    labels = torch.arange(len(q), device=q.device)
    return ranking_loss_sum(q, k, labels, 0.0, 1.0 / temperature, others, extra=queue)


def mixup_batch(drawn: list, pivot: str, gen: torch.Generator, vocab, max_len: int) -> PairBatch:
    """2n drawn pairs -> n rows of two pairs each: sources joined, targets joined, each side's order random."""
    piv = vocab.lang_index(pivot)
    src = [(x_ids, vocab.lang_index(lang)) for lang, (_, x_ids) in drawn]
    tgt = [(p_ids, piv) for _, (p_ids, _) in drawn]
    flips = (torch.rand(len(drawn) // 2, 2, generator=gen) < 0.5).tolist()  # (n, 2): swap source, swap target

    def joined(side: list, k: int) -> list:
        return [[side[2 * b + 1], side[2 * b]] if f[k] else [side[2 * b], side[2 * b + 1]] for b, f in enumerate(flips)]
    return PairBatch.build(joined(src, 0), joined(tgt, 1), vocab, max_len)


class XLCOState(nn.Module):
    """Twin encoder and projection (frozen, EMA-updated) and the queue of keys."""

    def __init__(self, encoder: nn.Module, proj: nn.Module, size: int, dim: int) -> None:
        super().__init__()
        self.twin, self.twin_proj = momentum_copy(encoder).eval(), momentum_copy(proj)
        self.queue = KeyQueue(size, dim)


@register("objective", "xlco", XLCOConfig)
class XLCO(Objective):
    name = "xlco"
    needs = ("pairs",)
    splittable = False  # the queue couples rows across micro-batches

    def build_heads(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"xlco_proj": nn.Linear(model.cfg.d_model, model.cfg.d_model, bias=False)}

    def uses_every_parameter(self, model: nn.Module) -> bool:
        return self.cfg.layer in (-1, model.cfg.n_layers)

    def build_state(self, model: nn.Module) -> nn.Module:
        if not (self.cfg.layer == -1 or 1 <= self.cfg.layer <= model.cfg.n_layers):
            raise ConfigError(f"objectives.xlco.layer must be 1..{model.cfg.n_layers} or -1, got {self.cfg.layer}")
        self.pending: list[torch.Tensor] = []
        return XLCOState(model.encoder, model.head("xlco_proj"), self.cfg.queue_size, model.cfg.d_model)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        if not self.cfg.mixup:
            return sample_pair_batch(pool, n, gen, self.vocab, self.max_len)
        return mixup_batch(pool.sample_pairs(2 * n, gen), pool.pivot, gen, self.vocab, self.max_len)

    def _vectors(self, encoder: nn.Module, proj: nn.Module, side) -> torch.Tensor:
        layer = None if self.cfg.layer == -1 else self.cfg.layer
        v = proj(embed(encoder, side, self.cfg.pooling, layer=layer))  # (B, D)
        return F.normalize(v, dim=-1) if self.cfg.normalize else v

    def __call__(self, model: nn.Module, batch: PairBatch) -> LossOut:
        proj, queue = model.head("xlco_proj"), self.state.queue.queued()
        sides = [(batch.src, batch.tgt)] + ([(batch.tgt, batch.src)] if self.cfg.bidirectional else [])
        loss, correct = 0.0, 0.0
        for query_side, key_side in sides:
            q = self._vectors(model.encoder, proj, query_side)
            with torch.no_grad():
                k = self._vectors(self.state.twin, self.state.twin_proj, key_side)
            part, right = xlco_loss_sum(q, k, queue, self.cfg.temperature)
            loss, correct = loss + part, correct + float(right) / len(sides)
            self.pending.append(gather_rows(k)[0])  # (W·B, D): every process queues the same keys
        n = len(batch)
        return loss, n, {"train/xlco/loss_sum": float(loss.detach()), "train/xlco/correct": correct, "train/xlco/n": n}

    def skip_step(self) -> None:
        self.pending = []  # keys of a step that made no update are not queued

    def after_step(self, model: nn.Module, step: int) -> None:
        ema_update(self.state.twin, model.encoder, self.cfg.momentum)
        ema_update(self.state.twin_proj, model.head("xlco_proj"), self.cfg.momentum)
        for keys in self.pending:
            self.state.queue.push(keys)
        self.pending = []
