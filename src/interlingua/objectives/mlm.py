"""Masked language modelling (BERT, mBERT, XLM-R).

    L_MLM = - Σ_{i ∈ M} log p(x_i | x̃)

M holds ~15 % of the non-special tokens; of those, 80 % are replaced by ``<mask>``, 10 % by a random token
and 10 % kept (x̃ is the corrupted sequence). The loss is summed over M; the item count is |M|. The
vocabulary projection runs only at the positions in M.

Inputs: single sentences sampled with p_lang ∝ n^α, ``<s> x </s>``.
Related: ``tlm`` (the same loss on a concatenated translation pair), ``clm``.
Reference: Devlin et al. 2019, BERT; Conneau et al. 2020, XLM-R.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from interlingua.data.batches import TokenBatch
from interlingua.data.collate import Packed, Segment, pack
from interlingua.data.masking import mask_tokens
from interlingua.data.pool import Pool
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig, masked_positions
from interlingua.registry import register


@dataclass
class MLMConfig(ObjectiveConfig):
    mask_prob: float = 0.15
    p_mask: float = 0.8
    p_random: float = 0.1


def masked_lm_loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, V) logits, (N,) targets -> (summed cross-entropy, number of correct argmax predictions)."""
    loss = F.cross_entropy(logits.float(), targets, reduction="sum")
    return loss, (logits.argmax(-1) == targets).sum()


def corrupt(packed: Packed, cfg: MLMConfig, vocab, gen: torch.Generator) -> TokenBatch:
    """Mask a packed batch and wrap it as a :class:`TokenBatch`."""
    ids, labels = mask_tokens(
        packed.input_ids, packed.maskable, gen, mask_id=vocab.mask_id, vocab_size=vocab.size,
        prob=cfg.mask_prob, p_mask=cfg.p_mask, p_random=cfg.p_random, exclude=torch.tensor(vocab.special_ids),
    )
    return TokenBatch(ids, packed.attn_mask, labels, packed.position_ids, packed.lang_ids, packed.segment_ids,
                      packed.word_ids)


def masked_prediction(model: torch.nn.Module, batch: TokenBatch, name: str, causal: bool = False,
                      attn_mask: torch.Tensor | None = None) -> LossOut:
    """Encode, project only the labelled positions through the tied LM head, sum the loss. ``attn_mask``
    replaces the batch's padding mask (e.g. a pairwise (B, T, T) mask)."""
    inputs = batch.encoder_inputs() if attn_mask is None else {**batch.encoder_inputs(), "attn_mask": attn_mask}
    hidden = model.encoder(**inputs, causal=causal).last_hidden  # (B, T, D)
    h, targets = masked_positions(hidden, batch.labels)  # (N, D), (N,)
    loss, correct = masked_lm_loss_sum(model.head("lm")(h), targets)
    n = targets.numel()
    return loss, n, {f"train/{name}/loss_sum": float(loss.detach()), f"train/{name}/correct": float(correct), f"train/{name}/n": n}


@register("objective", "mlm", MLMConfig)
class MLM(Objective):
    name = "mlm"
    needs = ("mono",)
    heads = ("lm",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        rows = [[Segment(ids, self.vocab.lang_index(lang))] for lang, ids in pool.sample_mono(n, gen)]
        return corrupt(pack(rows, self.vocab, self.max_len), self.cfg, self.vocab, gen)

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        return masked_prediction(model, batch, self.name)
