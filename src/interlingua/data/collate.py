"""Turn lists of token-id segments into padded (B, T) tensors.

A row is one or more segments: ``<s> A </s>`` for one sentence, ``<s> A </s> B </s>`` for two. Each
segment carries its language (XLM language embeddings) and its index (BERT segment embeddings); with
``reset_positions`` the second segment's positions restart at 0, as XLM's TLM does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from interlingua.tokenization.vocab import Vocab


@dataclass
class Segment:
    ids: list[int]
    lang: int = 0
    token_langs: list[int] | None = None
    """A language per token instead of ``lang`` (code-switched text: ALM); the separator after it takes ``lang``."""
    segment: int | None = None
    """Segment id instead of the segment's index in its row (a document of many sentences, two sides: CLMLM)."""


@dataclass
class Packed:
    input_ids: torch.Tensor  # (B, T)
    attn_mask: torch.Tensor  # (B, T) bool
    position_ids: torch.Tensor  # (B, T)
    lang_ids: torch.Tensor  # (B, T)
    segment_ids: torch.Tensor  # (B, T)
    maskable: torch.Tensor  # (B, T) bool: real, non-special tokens
    word_ids: torch.Tensor  # (B, T) word index within the segment; -1 on specials and padding


def _budgets(lengths: list[int], room: int) -> list[int]:
    """Share ``room`` tokens among segments, trimming the longest first."""
    budget = list(lengths)
    while sum(budget) > room:
        i = max(range(len(budget)), key=budget.__getitem__)
        budget[i] -= 1
    return budget


Row = list[tuple[int, int, int, int, bool, int]]  # (token, position, lang, segment, maskable, word)


def _row(segments: list[Segment], vocab: Vocab, max_len: int, reset_positions: bool) -> Row:
    """One row as (token, position, lang, segment, maskable, word index) tuples."""
    budget = _budgets([len(s.ids) for s in segments], max_len - 1 - len(segments))
    starts = vocab.word_starts
    out = [(vocab.cls_id, 0, segments[0].lang, 0, False, -1)]
    pos = 1
    for k, (seg, n) in enumerate(zip(segments, budget)):
        if reset_positions and k > 0:
            pos = 0
        word, index = -1, k if seg.segment is None else seg.segment
        for j, tok in enumerate(seg.ids[:n]):
            word += int(j == 0 or starts[tok])  # the first subword of a segment always starts a word
            lang = seg.lang if seg.token_langs is None else seg.token_langs[j]
            out.append((tok, pos, lang, index, True, word))
            pos += 1
        out.append((vocab.sep_id, pos, seg.lang, index, False, -1))
        pos += 1
    return out


def pack(rows: list[list[Segment]], vocab: Vocab, max_len: int, reset_positions: bool = False) -> Packed:
    built = [_row(r, vocab, max_len, reset_positions) for r in rows]
    T = max(len(r) for r in built)
    cols = torch.zeros(6, len(built), T, dtype=torch.long)  # token, position, lang, segment, maskable, word
    cols[0].fill_(vocab.pad_id)
    cols[5].fill_(-1)
    for b, row in enumerate(built):
        cols[:, b, : len(row)] = torch.tensor(row, dtype=torch.long).T
    attn = torch.zeros(len(built), T, dtype=torch.bool)
    for b, row in enumerate(built):
        attn[b, : len(row)] = True
    return Packed(cols[0], attn, cols[1], cols[2], cols[3], cols[4].bool(), cols[5])
