"""Causal language modelling (XLM's CLM).

    L_CLM = - Σ_t log p(x_{t+1} | x_{≤t})

Attention is causal (each position sees itself and the left context); every real token after ``<s>``
is a target, ``</s>`` included. Summed over targets; the item count is the number of targets.

Inputs: single sentences sampled with p_lang ∝ n^α. Related: ``mlm``.
Reference: Lample & Conneau 2019, Cross-lingual Language Model Pretraining.
"""
from __future__ import annotations

import torch

from interlingua.data.batches import IGNORE, TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.data.pool import Pool
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.mlm import masked_prediction
from interlingua.registry import register


def next_token_labels(input_ids: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
    """labels[:, t] = input_ids[:, t + 1] where that token is real, else IGNORE."""
    labels = torch.full_like(input_ids, IGNORE)
    labels[:, :-1] = torch.where(attn_mask[:, 1:], input_ids[:, 1:], IGNORE)
    return labels


@register("objective", "clm", ObjectiveConfig)
class CLM(Objective):
    name = "clm"
    needs = ("mono",)
    heads = ("lm",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        rows = [[Segment(ids, self.vocab.lang_index(lang))] for lang, ids in pool.sample_mono(n, gen)]
        p = pack(rows, self.vocab, self.max_len)
        return TokenBatch(p.input_ids, p.attn_mask, next_token_labels(p.input_ids, p.attn_mask),
                          p.position_ids, p.lang_ids, p.segment_ids)

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        return masked_prediction(model, batch, self.name, causal=True)
