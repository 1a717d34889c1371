"""Denoising auto-encoding (XLM's UNMT, XNLG): reconstruct a sentence from a corrupted copy.

    L_DAE = - Σ_t log p(x_t | x_<t, C(x)),    C = blank_p ∘ drop_p ∘ shuffle_k   on the words w_1 … w_n of x

The noise is XLM's ``add_noise`` applied to whole words, as UnsupervisedMT's word-level version does: the
subword tokens of x (specials and the ``model.text_prefix`` untouched) are grouped into words by the
vocabulary's word starts (``Vocab.word_starts``, the ``▁`` pieces), then, in this order:

1. local shuffle: word i gets the sort key i + u_i, u_i ~ U[0, k); sorting moves every word fewer than
   k places (word j > i can precede i only if j - i < u_i - u_j < k), and a word's pieces stay together;
2. word dropout: each word is deleted with probability p_drop (at least one word is kept);
3. word blank: each word is blanked with probability p_blank: every piece of it becomes ``<mask>``, so the
   encoder still sees how long the word was (UnsupervisedMT's choice; one mask per word would hide that).

The decoder writes the clean x in x's language. Summed over target tokens.

Inputs: monolingual sentences (both sides of the pairs; ``halves`` for disjoint halves, see
``data.seq2seq_batches.draw_mono``). Related: ``xae``, ``bt``. Reference: Lample et al. 2018, Unsupervised
Machine Translation Using Monolingual Corpora Only; Lample & Conneau 2019 (XLM).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interlingua.data.alignments import words
from interlingua.data.pool import Pool
from interlingua.data.seq2seq_batches import Seq2SeqBatch, draw_mono
from interlingua.errors import ConfigError
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.xae import seq2seq_prediction
from interlingua.registry import register


def add_noise(ids: list[int], gen: torch.Generator, mask_id: int, starts: Sequence[bool], shuffle_k: float = 3.0,
              p_drop: float = 0.1, p_blank: float = 0.1) -> list[int]:
    """x -> C(x) on whole words (``starts[token]``: does the token begin a word; the first token always does):
    local shuffle (moves < k words), then word dropout, then word blanking; see module doc."""
    ws = words(ids, starts)
    n = len(ws)
    if n == 0:
        return []
    if shuffle_k > 1:
        keys = torch.arange(n, dtype=torch.float) + torch.rand(n, generator=gen) * shuffle_k
        ws = [ws[i] for i in keys.argsort().tolist()]
    if p_drop > 0:
        keep = (torch.rand(n, generator=gen) >= p_drop).tolist()
        if not any(keep):
            keep[int(torch.randint(n, (1,), generator=gen))] = True
        ws = [w for w, k in zip(ws, keep) if k]
    if p_blank > 0:
        blank = (torch.rand(len(ws), generator=gen) < p_blank).tolist()
        ws = [[mask_id] * len(w) if b else w for w, b in zip(ws, blank)]
    return [t for w in ws for t in w]


@dataclass
class DAEConfig(ObjectiveConfig):
    shuffle_k: float = 3.0
    p_drop: float = 0.1
    p_blank: float = 0.1
    halves: bool = False
    """Monolingual halves of the pairs (no sentence's translation is seen): unsupervised MT."""

    def __post_init__(self) -> None:
        for key in ("p_drop", "p_blank"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"objectives.dae.{key} must lie in [0, 1), got {getattr(self, key)}")


@register("objective", "dae", DAEConfig)
class DAE(Objective):
    name = "dae"
    needs = ("pairs",)
    heads = ("decoder",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> Seq2SeqBatch:
        c, v = self.cfg, self.vocab
        src, tgt = [], []
        for lang, ids in draw_mono(pool, n, gen, c.halves):
            row = v.lang_index(lang)
            noised = add_noise(v.strip_prefix(ids), gen, v.mask_id, v.word_starts, c.shuffle_k, c.p_drop,
                               c.p_blank)
            src.append((v.prefix_ids + noised, row))
            tgt.append((list(ids), row))
        return Seq2SeqBatch.build(src, tgt, v, self.max_len)

    def __call__(self, model: torch.nn.Module, batch: Seq2SeqBatch) -> LossOut:
        return seq2seq_prediction(model, batch, self.name)
