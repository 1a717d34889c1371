"""Cross-lingual auto-encoding (XNLG): encode a sentence, decode its translation.

    L_XAE = - Σ_t log p(y_t | y_<t, x)          for a translation pair (x, y), either direction

The encoder reads x with x's language id; the decoder, with y's language id on every token, writes y
(``<s> y`` in, ``y </s>`` out). The direction is drawn per pair (50 % x→y, 50 % y→x), so both are trained.
Summed over predicted target tokens. :func:`seq2seq_nll` holds the math and :func:`seq2seq_prediction` the
model call, shared with ``dae`` and ``bt``.

Inputs: parallel pairs sampled with p_lang ∝ n^α. Needs the ``decoder`` head (``models.seq2seq``). With
``model.freeze_encoder`` (XNLG's zero-shot stage 2) the encoder is fixed and in eval mode, and so are the
embeddings the decoder shares with it (token, position, language; the token table is also the tied output
projection): only the decoder blocks and the LM head's transform and bias learn. Related: ``dae`` (noised x → x),
``bt`` (back-translated x → x). Reference: Chi et al. 2020, Cross-Lingual Natural Language Generation via
Pre-Training (XNLG).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from interlingua.data.batches import IGNORE
from interlingua.data.seq2seq_batches import Seq2SeqBatch
from interlingua.data.pool import Pool
from interlingua.models.seq2seq import decoder_of, teacher_forced
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.registry import register


def seq2seq_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(N, V) logits at the predicted positions and (N,) targets -> (Σ -log p(target), correct arg-maxes)."""
    loss_sum = F.cross_entropy(logits.float(), labels, reduction="sum")
    return loss_sum, int((logits.argmax(-1) == labels).sum())


def seq2seq_prediction(model: torch.nn.Module, batch: Seq2SeqBatch, name: str) -> LossOut:
    hidden = teacher_forced(model, batch)  # (B, T, D)
    keep = batch.tgt.labels != IGNORE  # (B, T)
    labels = batch.tgt.labels[keep]  # (N,)
    loss_sum, correct = seq2seq_nll(decoder_of(model).lm(hidden[keep]), labels)  # LM head on (N, D) only
    n = int(labels.numel())
    return loss_sum, n, {f"train/{name}/loss_sum": float(loss_sum.detach()), f"train/{name}/n": n,
                         f"train/{name}/correct": correct}


@dataclass
class XAEConfig(ObjectiveConfig):
    both_directions: bool = True
    """Draw the direction per pair; False: always pivot -> other language."""


@register("objective", "xae", XAEConfig)
class XAE(Objective):
    name = "xae"
    needs = ("pairs",)
    heads = ("decoder",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> Seq2SeqBatch:
        drawn = pool.sample_pairs(n, gen)
        flip = (torch.rand(n, generator=gen) < 0.5).tolist() if self.cfg.both_directions else [False] * n
        piv = self.vocab.lang_index(pool.pivot)
        src, tgt = [], []
        for (lang, (p_ids, x_ids)), f in zip(drawn, flip):
            a, b = (list(p_ids), piv), (list(x_ids), self.vocab.lang_index(lang))
            src.append(b if f else a)
            tgt.append(a if f else b)
        return Seq2SeqBatch.build(src, tgt, self.vocab, self.max_len)

    def __call__(self, model: torch.nn.Module, batch: Seq2SeqBatch) -> LossOut:
        return seq2seq_prediction(model, batch, self.name)
