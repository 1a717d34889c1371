"""CAMLM, ERNIE-M's cross-attention MLM: a masked token is recovered from the other sentence only.

    z = <s> x </s> y </s>, both sides masked as in MLM (15 %, 80/10/10)
    attend(i, j) = real(j) ∧ (side(i) ≠ side(j) ∨ i = j)
    L = −Σ_{i ∈ M_x} log P(x_i | y) − Σ_{i ∈ M_y} log P(y_i | x)

side(i) is the segment: <s>, x and the first </s> are side 0; y and the last </s> side 1. A position of x sees
the positions of y and itself, never the rest of x (ERNIE-M writes P(x_i | y)). Only in the first block is
that strict: from the second block on, y's states have seen x, so x_i hears of its neighbours through y.
Where this file chose: ERNIE-M averages each side's loss over its own masked tokens, −(1/|M_x|) Σ … −
(1/|M_y|) Σ …; here, so that gradient accumulation and data parallelism stay exact, the loss is a sum over the masked tokens of both sides and the item count is
|M_x| + |M_y| (the trainer divides by the global count), which weights the two sides by their share of the
masked tokens rather than equally. Positions restart at 0 for y and each side carries its language id, as TLM.
The side order is random per pair (TLM's batches). The pairwise mask is built from the segment ids inside the loss (the
batch keeps its (B, T) padding mask); the LM head runs at the masked positions only.
Inputs: translation pairs. Reference: Ouyang et al. 2021, ERNIE-M: Enhanced Multilingual Representation by
Aligning Cross-lingual Semantics with Monolingual Corpora (EMNLP).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from interlingua.data.batches import TokenBatch
from interlingua.objectives.base import LossOut
from interlingua.objectives.mlm import masked_prediction
from interlingua.objectives.tlm import TLM, TLMConfig
from interlingua.registry import register


@dataclass
class CAMLMConfig(TLMConfig):
    pass


def cross_attention_mask(attn_mask: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) padding mask, (B, T) side of each position -> (B, T, T) bool, True where query i may attend key j:
    j is real and on the other side, or j = i."""
    other = segment_ids[:, :, None] != segment_ids[:, None, :]  # (B, T, T)
    eye = torch.eye(attn_mask.shape[1], dtype=torch.bool, device=attn_mask.device)
    return (other | eye) & attn_mask[:, None, :].bool()


@register("objective", "camlm", CAMLMConfig)
class CAMLM(TLM):
    """TLM's batches (pairs concatenated, both sides masked) under the cross-attention mask."""

    name = "camlm"

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        pairwise = cross_attention_mask(batch.attn_mask, batch.segment_ids)  # (B, T, T)
        return masked_prediction(model, batch, self.name, attn_mask=pairwise)
