"""Batches for generation objectives: a source the encoder reads, a target the decoder writes.

The source is ``<s> x </s>`` with x's language id, as every encoder input. The target ``<s> y </s>`` is
shifted for teacher forcing: the decoder reads ``<s> y`` and predicts ``y </s>``; every target token carries
the target language id. ``model.text_prefix`` (e5's ``query: ``) is an encoder convention, so targets drop it.
One item = one predicted target token.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from interlingua.data.batches import IGNORE, TokenBatch
from interlingua.data.pair_batches import Side, encode_side
from interlingua.data.pool import Pool
from interlingua.tokenization.vocab import Vocab


def target_batch(rows: list[Side], vocab: Vocab, max_len: int) -> TokenBatch:
    """Decoder inputs ``<s> y`` (B, T) and labels ``y </s>`` (B, T), padding ignored."""
    full = encode_side([(vocab.strip_prefix(ids), lang) for ids, lang in rows], vocab, max_len)  # (B, T + 1)
    labels = full.input_ids[:, 1:].clone()  # (B, T)
    labels[~full.attn_mask[:, 1:]] = IGNORE
    return TokenBatch(full.input_ids[:, :-1], full.attn_mask[:, :-1], labels, None, full.lang_ids[:, :-1])


@dataclass
class Seq2SeqBatch:
    src: TokenBatch
    tgt: TokenBatch

    @classmethod
    def build(cls, src: list[Side], tgt: list[Side], vocab: Vocab, max_len: int) -> "Seq2SeqBatch":
        return cls(encode_side(src, vocab, max_len), target_batch(tgt, vocab, max_len))

    @property
    def num_items(self) -> int:
        return self.tgt.num_items

    def to(self, device: torch.device | str) -> "Seq2SeqBatch":
        return type(self)(self.src.to(device), self.tgt.to(device))

    def slice(self, start: int, stop: int) -> "Seq2SeqBatch":
        return type(self)(self.src.slice(start, stop).trim(), self.tgt.slice(start, stop).trim())

    def __len__(self) -> int:
        return len(self.src)


def mono_halves(pool: Pool) -> dict[str, tuple[list[int], list[int]]]:
    """Per language, the pair numbers whose pivot side may be drawn (the first half) and those whose other side
    may (the second half, less every pair whose sentence has a translation among the drawable pivot sentences).

    Exact duplicates make the plain split leak: Multi30k repeats English captions, so a German sentence of the
    second half can have its English in the first half, or be paired with another English caption there (8 of
    its 29,000 train pairs by exact text). The drawable pivots are those of every language's first half, since
    all of them are drawn together.
    """
    key = tuple((lang, len(rows)) for lang, rows in sorted(pool.pairs.items()))
    cached = getattr(pool, "_mono_halves", None)
    if cached is not None and cached[0] == key:  # a pool is fixed once built: compute once, not per batch
        return cached[1]
    pivots = {tuple(rows[i][0]) for rows in pool.pairs.values() for i in range(len(rows) // 2)}
    out = {}
    for lang, rows in sorted(pool.pairs.items()):
        half = len(rows) // 2
        leaked = {tuple(x) for p, x in rows if tuple(p) in pivots}  # sentences with a drawable translation
        out[lang] = (list(range(half)), [i for i in range(half, len(rows)) if tuple(rows[i][1]) not in leaked])
    pool._mono_halves = (key, out)
    return out


def draw_mono(pool: Pool, n: int, gen: torch.Generator, halves: bool) -> list[tuple[str, list[int]]]:
    """n monolingual sentences ``(lang, ids)``.

    ``halves``: from the parallel pairs, the pivot side of the first half of each language's pairs and the
    other side of the second half, less the second-half pairs whose sentence has a translation on the pivot
    side (duplicates, :func:`mono_halves`), so that no drawn sentence has its translation among the drawable
    pivot sentences (unsupervised MT from a parallel corpus, as XLM's UNMT experiments split their data).
    Languages uniform. Two non-pivot sentences sharing a pivot translation (deu and fra captions of one English
    caption) may both be drawn. Otherwise all distinct sentences of the pool, languages sampled ∝ n^α.
    """
    if not halves:
        return pool.sample_mono(n, gen)
    allowed = mono_halves(pool)
    langs = sorted(pool.pairs)
    choices = [(lang, side) for lang in langs for side in (0, 1)]  # side 0 = pivot half, 1 = language half
    picks = torch.randint(len(choices), (n,), generator=gen).tolist()
    out = []
    for k in picks:
        lang, side = choices[k]
        rows = allowed[lang][side]
        if not rows:
            raise ValueError(f"{lang}: too few pairs ({len(pool.pairs[lang])}) to split into monolingual halves")
        i = rows[int(torch.randint(len(rows), (1,), generator=gen))]
        out.append((pool.pivot if side == 0 else lang, list(pool.pairs[lang][i][side])))
    return out
