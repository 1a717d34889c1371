"""Translation language modelling (XLM).

    L_TLM = - Σ_{i ∈ M} log p(z_i | z̃),   z = x ⊕ y

A translation pair (x, y) is concatenated, ``<s> x </s> y </s>``, and masked on both sides as in MLM, so a
masked word can be recovered from its translation. Positions restart at 0 for y and each side carries
its own language id (language embeddings). The side order is random per pair. Summed over masked tokens.

Inputs: parallel pairs sampled with p_lang ∝ n^α. Related: ``mlm`` (same loss, one sentence).
Reference: Lample & Conneau 2019, Cross-lingual Language Model Pretraining.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from interlingua.data.batches import TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.data.pool import Pool
from interlingua.objectives.base import LossOut, Objective
from interlingua.objectives.mlm import MLMConfig, corrupt, masked_prediction
from interlingua.registry import register


@dataclass
class TLMConfig(MLMConfig):
    reset_positions: bool = True


def concatenated_pairs(pool: Pool, n: int, gen: torch.Generator, vocab) -> list[list[Segment]]:
    """n translation pairs (p_lang ∝ n^α) as two-segment rows, pivot and data language in random order."""
    return concatenate(pool.sample_pairs(n, gen), pool.pivot, gen, vocab)


def concatenate(drawn: list, pivot: str, gen: torch.Generator, vocab) -> list[list[Segment]]:
    """Drawn pairs ``(lang, (pivot ids, lang ids))`` -> two-segment rows, the side order random per pair."""
    swap = torch.rand(len(drawn), generator=gen) < 0.5
    piv = vocab.lang_index(pivot)
    rows = []
    for (lang, (p_ids, x_ids)), s in zip(drawn, swap.tolist()):
        a, b = Segment(p_ids, piv), Segment(x_ids, vocab.lang_index(lang))
        rows.append([b, a] if s else [a, b])
    return rows


@register("objective", "tlm", TLMConfig)
class TLM(Objective):
    name = "tlm"
    needs = ("pairs",)
    heads = ("lm",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        packed = pack(concatenated_pairs(pool, n, gen, self.vocab), self.vocab, self.max_len,
                      reset_positions=self.cfg.reset_positions)
        return corrupt(packed, self.cfg, self.vocab, gen)

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        return masked_prediction(model, batch, self.name)
