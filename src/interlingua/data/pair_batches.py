"""Batches of sentence pairs whose two sides are encoded separately (dual encoders).

A :class:`PairBatch` holds two padded :class:`TokenBatch` es, ``src`` and ``tgt`` (row b of one goes with
row b of the other), plus an integer identity key per side: equal texts have equal keys, so a contrastive
objective can recognise a duplicate of the positive among its in-batch negatives, even one gathered from
another process. NLI also fills ``labels`` (one class per pair). One item = one row.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from interlingua.data.batches import IGNORE, TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.tokenization.vocab import Vocab

Side = tuple[list[int], int]  # token ids, language index


def text_key(ids: list[int]) -> int:
    """A 64-bit identity of a token sequence, identical in every process (tuples of ints hash deterministically)."""
    return hash(tuple(ids))


def encode_side(rows: list[Side], vocab: Vocab, max_len: int) -> TokenBatch:
    """One sentence per row, ``<s> x </s>``; no token labels."""
    p = pack([[Segment(ids, lang)] for ids, lang in rows], vocab, max_len)
    no_labels = torch.full_like(p.input_ids, IGNORE)
    return TokenBatch(p.input_ids, p.attn_mask, no_labels, p.position_ids, p.lang_ids, p.segment_ids, p.word_ids)


@dataclass
class PairBatch:
    src: TokenBatch
    tgt: TokenBatch
    src_key: torch.Tensor  # (B,) int64
    tgt_key: torch.Tensor  # (B,) int64
    labels: torch.Tensor | None = None  # (B,) class per pair, when the objective classifies pairs

    @classmethod
    def build(cls, src: list[Side], tgt: list[Side], vocab: Vocab, max_len: int,
              labels: list[int] | None = None) -> "PairBatch":
        return cls(
            encode_side(src, vocab, max_len),
            encode_side(tgt, vocab, max_len),
            torch.tensor([text_key(ids) for ids, _ in src], dtype=torch.long),
            torch.tensor([text_key(ids) for ids, _ in tgt], dtype=torch.long),
            None if labels is None else torch.tensor(labels, dtype=torch.long),
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
        """Rows start:stop of both sides (a rank's or micro-batch's share of a global batch)."""
        return self._map(lambda v: v.slice(start, stop) if isinstance(v, TokenBatch) else v[start:stop])

    def __len__(self) -> int:
        return int(self.src_key.shape[0])
