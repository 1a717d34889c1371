"""CLSA, AMBER's cross-lingual sentence alignment: a translation against in-batch and monolingual candidates.

Rank a sentence's translation above the batch's other translations and above monolingual sentences of the
target language.

    c = mean over real tokens of the last layer (``pooling``; [CLS] optional)
    L(x) = −log e^{s·c_xᵀc_y} / Σ_{y′ ∈ P ∪ M} e^{s·c_xᵀc_{y′}}

P: the targets of the global batch (gathered from every process, as translation ranking's); M: sentences
drawn from the target language's monolingual text (``monolingual`` per global batch, the same on every
process: :class:`~interlingua.data.pair_batches.PairBatch` keeps them whole and each process encodes all of
them, so DDP averages exactly the single-process gradient). Targets are in the pivot language, so M comes
from the pivot's monolingual table. One direction, x → y, as AMBER; no margin. AMBER uses the raw dot
product (``scale`` 1, ``normalize`` false); with ``normalize`` the vectors are L2-normalised first, which
suits a start model whose vectors are long (then a scale of 20–100 is what translation ranking uses).
Candidates equal to the positive's text (in P or in M), and translations of a source equal to x's, are
masked out.
Inputs: translation pairs plus monolingual pivot sentences. One item per pair.
Reference: Hu et al. 2021, Explicit Alignment Objectives for Multilingual Bidirectional Encoders (NAACL).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from interlingua.data.pair_batches import PairBatch, draw_shared
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.translation_ranking import (
    embed, in_batch_candidates, ranking_loss_sum, sample_pair_batch,
)
from interlingua.registry import register


@dataclass
class CLSAConfig(ObjectiveConfig):
    monolingual: int = 32
    """Monolingual target-language sentences M added to the candidates of every global batch (0: none)."""
    scale: float = 1.0
    normalize: bool = False
    pooling: str = "mean"
    gather: bool = True

    def __post_init__(self) -> None:
        if self.monolingual < 0 or self.scale <= 0:
            raise ConfigError(f"objectives.clsa: monolingual must be >= 0 and scale > 0, got {self.monolingual} "
                              f"and {self.scale}")
        if self.pooling not in ("cls", "mean"):
            raise ConfigError(f"objectives.clsa.pooling must be 'cls' or 'mean', got {self.pooling!r}")


def clsa_loss_sum(x: torch.Tensor, y: torch.Tensor, mono: torch.Tensor, labels: torch.Tensor, scale: float,
                  dup: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D) sources, (C, D) translations P, (M, D) monolingual M, (B,) column of each source's translation,
    (B, C + M) candidates to exclude -> (Σ_i L_i, count of sources whose translation scores highest)."""
    return ranking_loss_sum(x, torch.cat([y, mono]), labels, 0.0, scale, dup)  # (C + M, D) candidates


@register("objective", "clsa", CLSAConfig)
class CLSA(Objective):
    name = "clsa"
    needs = ("pairs", "mono")
    splittable = False  # in-batch candidates couple the rows

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        batch = sample_pair_batch(pool, n, gen, self.vocab, self.max_len)
        if self.cfg.monolingual == 0:
            return batch
        table = pool.mono.get(pool.pivot) or []
        if not table:
            raise ConfigError(f"objectives.clsa needs monolingual {pool.pivot} text; the configured data has none")
        batch.shared, batch.shared_key = draw_shared(table, self.cfg.monolingual, self.vocab.lang_index(pool.pivot),
                                                     gen, self.vocab, self.max_len)
        return batch

    def _vectors(self, model, side) -> torch.Tensor:
        v = embed(model.encoder, side, self.cfg.pooling)  # (B, D)
        return F.normalize(v.float(), dim=-1) if self.cfg.normalize else v.float()

    def __call__(self, model: torch.nn.Module, batch: PairBatch) -> LossOut:
        x, y = self._vectors(model, batch.src), self._vectors(model, batch.tgt)  # (B, D)
        _, all_y, labels, dup_p = in_batch_candidates(x, y, batch, self.cfg.gather)  # (C, D), (B,), (B, C)
        if batch.shared is not None:
            mono, mono_keys = self._vectors(model, batch.shared), batch.shared_key  # (M, D), (M,)
        else:
            mono, mono_keys = y[:0], batch.tgt_key[:0]
        dup = torch.cat([dup_p, batch.tgt_key[:, None] == mono_keys[None]], 1)  # (B, C + M)
        loss, correct = clsa_loss_sum(x, all_y, mono, labels, self.cfg.scale, dup)
        n = len(batch)
        return loss, n, {"train/clsa/loss_sum": float(loss.detach()), "train/clsa/correct": float(correct),
                         "train/clsa/n": n}
