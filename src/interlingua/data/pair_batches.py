"""Batches of sentence pairs whose two sides are encoded separately (dual encoders).

A :class:`PairBatch` holds two padded :class:`TokenBatch` es, ``src`` and ``tgt`` (row b of one goes with
row b of the other), plus an integer identity key per side: equal texts have equal keys, so a contrastive
objective can recognise a duplicate of the positive among its in-batch negatives, even one gathered from
another process. NLI also fills ``labels`` (one class per pair). One item = one row.

``shared`` (with ``shared_key``) holds sentences that belong to the whole global batch rather than to a row,
e.g. AMBER's monolingual candidates: :meth:`PairBatch.slice` keeps them whole, so every process sees the same
ones. A side may join several sentences per row (InfoXLM's mix-up contrast): :func:`encode_side` takes a
list of segments per row.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from interlingua.data.batches import IGNORE, TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.tokenization.vocab import Vocab

Side = tuple[list[int], int]  # token ids, language index
SHARED = ("shared", "shared_key")  # fields slice() keeps whole


def text_key(ids: list[int]) -> int:
    """A 64-bit identity of a token sequence, identical in every process (tuples of ints hash deterministically)."""
    return hash(tuple(ids))


def encode_side(rows: list[Side] | list[list[Side]], vocab: Vocab, max_len: int) -> TokenBatch:
    """One sentence per row, ``<s> x </s>``, or several, ``<s> x₁ </s> x₂ </s>``; no token labels."""
    p = pack([[Segment(ids, lang) for ids, lang in _segments(r)] for r in rows], vocab, max_len)
    no_labels = torch.full_like(p.input_ids, IGNORE)
    return TokenBatch(p.input_ids, p.attn_mask, no_labels, p.position_ids, p.lang_ids, p.segment_ids, p.word_ids)


def draw_shared(table, count: int, lang_row: int, gen: torch.Generator, vocab: Vocab,
                max_len: int) -> tuple[TokenBatch, torch.Tensor]:
    """``count`` sentences of ``table`` (token id lists) drawn with replacement, all in language row ``lang_row``:
    a side every process shares (``PairBatch.shared``) and its (count,) text keys."""
    picks = torch.randint(len(table), (count,), generator=gen).tolist()
    rows = [(list(table[i]), lang_row) for i in picks]
    return encode_side(rows, vocab, max_len), side_keys(rows)


def _segments(row: Side | list[Side]) -> list[Side]:
    return row if isinstance(row, list) else [row]


def side_keys(rows: list[Side] | list[list[Side]]) -> torch.Tensor:
    """(B,) identity of each row's text: its sentence's, or its sentences' joined in order (-1 between)."""
    joined = [r[0] if isinstance(r, tuple) else [t for ids, _ in r for t in [*ids, -1]] for r in rows]
    return torch.tensor([text_key(ids) for ids in joined], dtype=torch.long)


@dataclass
class PairBatch:
    src: TokenBatch
    tgt: TokenBatch
    src_key: torch.Tensor  # (B,) int64
    tgt_key: torch.Tensor  # (B,) int64
    labels: torch.Tensor | None = None  # (B,) class per pair, when the objective classifies pairs
    shared: TokenBatch | None = None  # (M, T') sentences of the whole batch, not sliced
    shared_key: torch.Tensor | None = None  # (M,) int64

    @classmethod
    def build(cls, src: list[Side] | list[list[Side]], tgt: list[Side] | list[list[Side]], vocab: Vocab,
              max_len: int, labels: list[int] | None = None, shared: list[Side] | None = None) -> "PairBatch":
        return cls(
            encode_side(src, vocab, max_len),
            encode_side(tgt, vocab, max_len),
            side_keys(src), side_keys(tgt),
            None if labels is None else torch.tensor(labels, dtype=torch.long),
            None if shared is None else encode_side(shared, vocab, max_len),
            None if shared is None else side_keys(shared),
        )

    @property
    def num_items(self) -> int:
        return len(self)

    def _map(self, fn) -> "PairBatch":
        return type(self)(**{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                             for f in fields(self)})

    def to(self, device: torch.device | str) -> "PairBatch":
        return self._map(lambda v: v.to(device))

    def slice(self, start: int, stop: int) -> "PairBatch":
        """Rows start:stop of both sides (a rank's or micro-batch's share of a global batch); ``shared`` whole."""
        rows = self._map(lambda v: v.slice(start, stop) if isinstance(v, TokenBatch) else v[start:stop])
        for name in SHARED:
            setattr(rows, name, getattr(self, name))
        return rows

    def __len__(self) -> int:
        return int(self.src_key.shape[0])
