"""Sentence embedders for evaluation, and ``get_embedder`` which turns a ``--model`` spec into one.

Accepted specs:
    baseline:char-tfidf   char 3-5-gram TF-IDF, fitted per language pair on both sides (no training)
    baseline:me5-small    multilingual-e5-small imported into interlingua (``query: `` prefix, 512 tokens)
    baseline:usem3        Universal Sentence Encoder multilingual v3
    <dir>/interlingua.json  an interlingua run directory
    <dir>/config.json       a local Hugging Face (or sentence-transformers) model folder

me5-small, run directories and Hugging Face folders are :func:`interlingua.encoding.load_encoder` in fp32,
bound to the evaluation options: ``eval`` scores the vectors ``interlingua.encode(..., quantize=False)`` returns.

An embedder has a ``name`` and ``encode(sentences, lang) -> (N, D)`` returning a dense array or a scipy
sparse matrix. If it also has ``fit(corpus)``, evaluation calls it with every sentence of the current
language pair (both sides) before encoding; only baselines that need corpus statistics define it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from interlingua.errors import CheckpointError, ConfigError, InterlinguaError

POOLINGS = ("cls", "mean")


@runtime_checkable
class Embedder(Protocol):
    """Maps sentences of one language to row vectors; row i embeds ``sentences[i]``."""

    name: str

    def encode(self, sentences: list[str], lang: str) -> np.ndarray | sp.csr_matrix:
        """(N, D) embeddings; ``lang`` is a bare ISO 639-3 code (``to_iso3`` of the dataset code)."""
        ...


class CharTfidfEmbedder:
    """Character n-gram TF-IDF (``char_wb``, n = 3..5, sublinear tf), refitted for each language pair.

    A surface-overlap baseline: it scores well where languages share script and vocabulary (names,
    numbers, cognates) and near zero across scripts, which is what a learned encoder must beat.
    """

    name = "baseline:char-tfidf"

    def __init__(self) -> None:
        self._vectorizer = None

    def fit(self, corpus: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, dtype=np.float32
        )
        self._vectorizer.fit(corpus)

    def encode(self, sentences: list[str], lang: str) -> sp.csr_matrix:
        if self._vectorizer is None:
            raise InterlinguaError(f"{self.name}: call fit(corpus) before encode()")
        return sp.csr_matrix(self._vectorizer.transform(sentences))


def get_embedder(spec: str, pooling: str | None = None, batch_size: int = 64) -> Embedder:
    """Build the embedder named by ``spec`` (a baseline name or a local model folder); see module doc.

    ``pooling=None``: the model's own (a run's ``eval.pooling``, a sentence-transformers folder's mode, else mean).
    """
    if pooling is not None and pooling not in POOLINGS:
        raise ConfigError(f"--pooling must be one of {POOLINGS}, got {pooling!r}")
    if spec == "baseline:char-tfidf":
        return CharTfidfEmbedder()
    if spec == "baseline:usem3":
        from interlingua.evaluation.usem3 import USEm3Embedder

        return USEm3Embedder()
    folder = Path(spec).expanduser()
    if spec == "baseline:me5-small":
        model, label = spec, None
    elif (folder / "interlingua.json").is_file():  # a run folder, even if it also holds a config.json
        model, label = folder, None  # named by the folder's name
    elif (folder / "config.json").is_file():
        model, label = folder, str(folder)  # named by the path as given, not the resolved one
    else:
        error = CheckpointError if folder.exists() else ConfigError
        raise error(
            f"--model {spec!r} is not a known model. Accepted: baseline:char-tfidf, baseline:me5-small, "
            "baseline:usem3, a run directory containing interlingua.json, or a Hugging Face model folder "
            "containing config.json"
        )
    from interlingua.encoding import load_encoder

    options = {"batch_size": batch_size, **({"pooling": pooling} if pooling else {})}
    return load_encoder(model, quantize=False).bind(label, **options)
