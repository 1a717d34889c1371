"""CLWA, AMBER's cross-lingual word alignment: attention from x to y should mirror attention from y to x.

On a translation pair concatenated as in TLM, the attention of one direction should be the transpose of
the other's.

    A^h_{x→y}[i, j] = P^h[i, j] / Σ_{j′ ∈ y} P^h[i, j′]     i ∈ x, j ∈ y   (|x| × |y|)
    A^h_{y→x}[j, i] = P^h[j, i] / Σ_{i′ ∈ x} P^h[j, i′]     (|y| × |x|)
    L = 1 − (1/H) Σ_h tr(A^h_{x→y} A^h_{y→x}) / min(|x|, |y|)

P^h is head h's attention probability matrix in block ``layer`` of ``<s> x </s> y </s>``, restricted to the
real tokens of the other sentence and renormalised row by row. tr(A_{x→y} A_{y→x}) = Σ_{i,j} A_{x→y}[i, j]
A_{y→x}[j, i] is at most min(|x|, |y|), reached when both directions agree on a one-to-one alignment; so
L ∈ [0, 1]. The pair is not masked. A row whose truncation left a sentence empty is no item. Only that
block computes its attention explicitly (the other blocks stay on fused SDPA); the block's output projection
and feed-forward, and the blocks above it, get no gradient from this loss.
``layer``: 1..L counts blocks (block ℓ's queries and keys come from hidden state ℓ − 1), −1 the last.
Inputs: translation pairs, side order random per pair. One item per pair.
Reference: Hu et al. 2021, Explicit Alignment Objectives for Multilingual Bidirectional Encoders (NAACL).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from interlingua.data.batches import IGNORE, RowBatch
from interlingua.data.collate import pack
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.tlm import concatenated_pairs
from interlingua.registry import register


@dataclass
class CLWAConfig(ObjectiveConfig):
    layer: int = -1
    """Block whose attention is aligned: 1..L, or -1 for the last."""
    reset_positions: bool = True


def restricted(probs: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(B, H, T, T) attention, (B, T) query and key token sets -> (B, H, T, T) attention of ``rows`` over
    ``cols`` only, renormalised per row; zero elsewhere."""
    keep = (rows[:, :, None] & cols[:, None, :])[:, None]  # (B, 1, T, T)
    part = probs * keep
    return part / part.sum(-1, keepdim=True).clamp_min(1e-12)


def clwa_loss_sum(probs: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, H, T, T) attention probabilities, (B, T) bool tokens of x and of y -> Σ_b L_b."""
    a_xy, a_yx = restricted(probs, x, y), restricted(probs, y, x)  # (B, H, T, T)
    trace = (a_xy * a_yx.transpose(-1, -2)).sum((-1, -2)).mean(1)  # (B,): (1/H) Σ_h tr(A_xy A_yx)
    shorter = torch.minimum(x.sum(1), y.sum(1))  # (B,)
    return torch.where(shorter > 0, 1.0 - trace / shorter.clamp_min(1), 0.0).sum()  # a row with an empty side: no item


@register("objective", "clwa", CLWAConfig)
class CLWA(Objective):
    name = "clwa"
    needs = ("pairs",)

    def _block(self, model: nn.Module) -> int:
        n = model.cfg.n_layers
        if not (self.cfg.layer == -1 or 1 <= self.cfg.layer <= n):
            raise ConfigError(f"objectives.clwa.layer must be 1..{n} or -1, got {self.cfg.layer}")
        return n - 1 if self.cfg.layer == -1 else self.cfg.layer - 1  # 0-based block index

    def uses_every_parameter(self, model: nn.Module) -> bool:
        return False  # only the block's queries and keys, and the blocks below it

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> RowBatch:
        p = pack(concatenated_pairs(pool, n, gen, self.vocab), self.vocab, self.max_len,
                 reset_positions=self.cfg.reset_positions)
        labels = torch.full_like(p.input_ids, IGNORE)
        return RowBatch(p.input_ids, p.attn_mask, labels, p.position_ids, p.lang_ids, p.segment_ids, p.word_ids)

    def __call__(self, model: nn.Module, batch: RowBatch) -> LossOut:
        block = self._block(model)
        probs = model.encoder(**batch.encoder_inputs(), attn_layers=(block,)).attentions[block]  # (B, H, T, T)
        real = batch.word_ids >= 0  # (B, T): tokens of either sentence, no specials or padding
        x, y = real & (batch.segment_ids == 0), real & (batch.segment_ids == 1)
        loss = clwa_loss_sum(probs.float(), x, y)
        n = batch.num_items
        return loss, n, {"train/clwa/loss_sum": float(loss.detach()), "train/clwa/n": n}

    def reduce_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"train/clwa/loss": sums.get("train/clwa/loss_sum", 0.0) / max(sums.get("train/clwa/n", 0.0), 1.0)}
