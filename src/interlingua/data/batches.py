"""Batch types: the contract between a collator and an objective.

All tensors are (B, T) unless noted. ``labels`` holds the target token id at positions to predict and
-100 elsewhere, so ``num_items`` (the loss denominator) is the count of non-ignored labels.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

IGNORE = -100


@dataclass
class TokenBatch:
    input_ids: torch.Tensor
    attn_mask: torch.Tensor  # bool, True = real token
    labels: torch.Tensor
    position_ids: torch.Tensor | None = None
    lang_ids: torch.Tensor | None = None
    segment_ids: torch.Tensor | None = None
    word_ids: torch.Tensor | None = None
    """(B, T) index of the word each subword belongs to, counted within its segment; -1 on specials and
    padding (word-level objectives, word alignment). Not an encoder input."""

    @property
    def num_items(self) -> int:
        return int((self.labels != IGNORE).sum())

    def encoder_inputs(self) -> dict[str, torch.Tensor | None]:
        return {
            "input_ids": self.input_ids,
            "attn_mask": self.attn_mask,
            "position_ids": self.position_ids,
            "lang_ids": self.lang_ids,
            "segment_ids": self.segment_ids,
        }

    def to(self, device: torch.device | str) -> "TokenBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})

    def slice(self, start: int, stop: int) -> "TokenBatch":
        """Rows start:stop (a rank's or micro-batch's share of a global batch)."""
        parts = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: v[start:stop] if isinstance(v, torch.Tensor) else v for k, v in parts.items()})

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def lengths(self) -> torch.Tensor:
        """(B,) real tokens per row."""
        return self.attn_mask.sum(1)

    def _map(self, fn) -> "TokenBatch":
        parts = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: fn(k, v) if isinstance(v, torch.Tensor) else v for k, v in parts.items()})

    def select(self, rows: torch.Tensor) -> "TokenBatch":
        """The given rows, in that order."""
        return self._map(lambda _, v: v[rows])

    def trim(self) -> "TokenBatch":
        """Drop trailing positions that are padding in every row (rows are right-padded), along every
        sequence dimension: (B, T) tensors, pairwise (B, T, T) masks and per-head (B, H, T, T) masks."""
        full, T = self.input_ids.shape[1], int(self.lengths().max()) if len(self) else 0
        return self._map(lambda _, v: v[trim_index(v.shape, full, T)])


def trim_index(shape: torch.Size, full: int, keep: int) -> tuple[slice, ...]:
    """Slices keeping ``keep`` of the ``full`` positions on every sequence dimension of a batch tensor:
    dims after the batch dim whose size is ``full``, except the head dim (dim 1) of a 4-D tensor."""
    seq = [d for d, size in enumerate(shape) if d > 0 and size == full and not (len(shape) == 4 and d == 1)]
    return tuple(slice(0, keep) if d in seq else slice(None) for d in range(len(shape)))


@dataclass
class SentencePairBatch(TokenBatch):
    """A TokenBatch plus one class label per row (NSP: 1 = B follows A, 0 = random B)."""

    class_labels: torch.Tensor | None = None  # (B,)

    @property
    def num_items(self) -> int:
        return int(self.class_labels.numel()) if self.class_labels is not None else 0


@dataclass
class RowBatch(TokenBatch):
    """A TokenBatch of two-sentence rows whose loss has one item per row (AMBER's CLWA, HICTL's word level).

    Items are the rows where both sentences (segments 0 and 1) keep a real token. ``row_ids`` (B,) numbers the
    rows of the global batch (sliced with them) and ``seed`` (an int, the same on every process) seeds draws
    made inside the loss because they depend on the model (HICTL's similarity-sampled negatives), so they
    repeat exactly on resume, whatever the process count or micro-batch split."""

    row_ids: torch.Tensor | None = None
    seed: int = 0

    @property
    def num_items(self) -> int:
        return int(both_sentences(self).sum())


def both_sentences(batch: TokenBatch) -> torch.Tensor:
    """(B,) bool: the row's sentences 0 and 1 both keep a real (non-special) token."""
    real = batch.word_ids >= 0  # (B, T)
    return (real & (batch.segment_ids == 0)).any(1) & (real & (batch.segment_ids == 1)).any(1)
