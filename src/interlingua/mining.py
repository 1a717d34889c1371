"""Bitext mining with margin scoring, as LASER does it (Artetxe & Schwenk, 2019).

    score(x, y) = margin(cos(x, y),  Σ_{z ∈ NN_k(x)} cos(x, z) / 2k  +  Σ_{z ∈ NN_k(y)} cos(y, z) / 2k)

    ratio:    margin(a, b) = a / b
    distance: margin(a, b) = a − b
    absolute: margin(a, b) = a            (plain cosine, no neighbourhood correction)

NN_k(x) are the k nearest targets of a source x and NN_k(y) the k nearest sources of a target y, so
the second argument is the mean similarity of both neighbourhoods. Dividing by it (or subtracting it)
penalises "hub" sentences that are close to everything, which plain cosine cannot.

Mining follows LASER's ``mine_bitexts``: each source proposes its best-scoring target among its k
neighbours (forward), each target its best source (backward); the candidates of the chosen mode are
sorted by score and taken greedily so that every source and every target appears at most once.

Inputs are L2-normalised float32 embeddings ``x`` (n, d) and ``y`` (m, d); inner product = cosine.

Reference: Mikel Artetxe and Holger Schwenk. "Margin-based Parallel Corpus Mining with Multilingual
Sentence Embeddings". ACL 2019. https://arxiv.org/abs/1811.01136
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np
from tqdm.auto import tqdm

from interlingua.data.readers import read_lines
from interlingua.errors import ConfigError, OutputError
from interlingua.io_safety import output_errors

MARGINS = ("ratio", "distance", "absolute")
MODES = ("union", "intersect", "forward", "backward")
INDEXES = ("flat", "ivf")

# Below this many queries a progress bar is noise; above it a search takes long enough to want one.
_PROGRESS_MIN_QUERIES = 100_000
# Guards the ratio margin against 0 / 0 when a sentence shares nothing with any other (e.g. sparse
# TF-IDF vectors); a positive cosine over an empty neighbourhood then still ranks high.
_RATIO_EPS = 1e-6


class Embedder(Protocol):
    def encode(self, sentences: list[str], lang: str) -> np.ndarray: ...


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as contiguous float32 (what faiss wants); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def build_index(y: np.ndarray, index: str = "flat", nlist: int | None = None,
                nprobe: int | None = None) -> faiss.Index:
    """An inner-product faiss index over ``y``: exact (flat) or inverted lists (ivf) trained on y."""
    if index not in INDEXES:
        raise ConfigError(f"index must be one of {INDEXES}, got {index!r}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    dim = y.shape[1]
    if index == "flat":
        flat = faiss.IndexFlatIP(dim)
        flat.add(y)
        return flat
    # faiss wants ~39 training points per centroid; 4·sqrt(m) is its usual rule of thumb for nlist.
    nlist = nlist or max(1, min(int(4 * math.sqrt(len(y))), len(y) // 39))
    if not 1 <= nlist <= len(y):
        raise ConfigError(f"nlist must be in [1, {len(y)}] (number of targets), got {nlist}")
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(y)
    ivf.add(y)
    ivf.nprobe = min(nprobe or 16, nlist)
    return ivf


def knn(x: np.ndarray, y: np.ndarray, k: int, index: str = "flat", nlist: int | None = None, *,
        nprobe: int | None = None, batch_size: int = 8192,
        progress: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar rows of ``y`` for each row of ``x``: (sims (n, k), ids (n, k)).

    k is capped at len(y), as LASER does. Queries go in chunks of ``batch_size`` so that a progress
    bar can follow them (shown by default above 100k queries). With ``index="ivf"`` a query can find
    fewer than k neighbours; those slots hold id -1 (and a meaningless similarity).
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    k = min(k, len(y))
    search = build_index(y, index, nlist, nprobe)
    x = np.ascontiguousarray(x, dtype=np.float32)
    sims = np.empty((len(x), k), dtype=np.float32)
    ids = np.empty((len(x), k), dtype=np.int64)
    show = progress if progress is not None else len(x) >= _PROGRESS_MIN_QUERIES
    for start in tqdm(range(0, len(x), batch_size), desc="knn", unit="batch", disable=not show):
        stop = start + batch_size
        sims[start:stop], ids[start:stop] = search.search(x[start:stop], k)
    return sims, ids


def apply_margin(a: np.ndarray, b: np.ndarray, margin: str) -> np.ndarray:
    """margin(a, b) for the cosine a and the mean neighbourhood similarity b (broadcasting)."""
    if margin == "ratio":
        # Only a vanishing denominator is guarded; a negative neighbourhood mean divides as in LASER.
        return a / np.where(np.abs(b) < _RATIO_EPS, _RATIO_EPS, b)
    if margin == "distance":
        return a - b
    if margin == "absolute":
        return a + np.zeros_like(b)  # broadcast to the same shape as the other margins
    raise ConfigError(f"margin must be one of {MARGINS}, got {margin!r}")


@dataclass(frozen=True)
class Neighbours:
    """kNN in both directions and each item's mean similarity to its own k neighbours."""

    x2y_sims: np.ndarray  # (n, k) cos(x_i, y_j) for the k nearest targets of x_i
    x2y_ids: np.ndarray  # (n, k)
    y2x_sims: np.ndarray  # (m, k)
    y2x_ids: np.ndarray  # (m, k)
    x_mean: np.ndarray  # (n,) Σ_{z ∈ NN_k(x)} cos(x, z) / k
    y_mean: np.ndarray  # (m,)


def _mean_found(sims: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row means over the neighbours actually found (ids >= 0); an IVF miss must not count."""
    found = ids >= 0
    total = np.where(found, sims, 0.0).sum(axis=1, dtype=np.float64)
    return (total / np.maximum(found.sum(axis=1), 1)).astype(np.float32)


def neighbours(x: np.ndarray, y: np.ndarray, k: int = 4, *, index: str = "flat",
               nlist: int | None = None, nprobe: int | None = None,
               progress: bool | None = None) -> Neighbours:
    """Both kNN searches (x → y and y → x) with the neighbourhood means the margin needs."""
    x2y_sims, x2y_ids = knn(x, y, k, index, nlist, nprobe=nprobe, progress=progress)
    y2x_sims, y2x_ids = knn(y, x, k, index, nlist, nprobe=nprobe, progress=progress)
    return Neighbours(x2y_sims, x2y_ids, y2x_sims, y2x_ids,
                      _mean_found(x2y_sims, x2y_ids), _mean_found(y2x_sims, y2x_ids))


def margin_scores(x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio", *,
                  index: str = "flat", nlist: int | None = None,
                  nprobe: int | None = None) -> np.ndarray:
    """Dense (n, m) matrix of margin scores for every source-target pair.

    Memory is n·m floats, so this is for small sets and tests; ``mine`` scores only kNN candidates.
    """
    nb = neighbours(x, y, k, index=index, nlist=nlist, nprobe=nprobe)
    cos = np.asarray(x, dtype=np.float32) @ np.asarray(y, dtype=np.float32).T  # (n, m)
    b = (nb.x_mean[:, None] + nb.y_mean[None, :]) / 2  # (n, m)
    return apply_margin(cos, b, margin)


def candidate_scores(sims: np.ndarray, ids: np.ndarray, own_mean: np.ndarray,
                     other_mean: np.ndarray, margin: str) -> np.ndarray:
    """Margin scores (n, k) of each query's k neighbours; the kNN sims already are the cosines.

    Missing neighbours (id -1, IVF only) score -inf so they are never chosen.
    """
    b = (own_mean[:, None] + other_mean[np.maximum(ids, 0)]) / 2  # (n, k)
    scores = apply_margin(sims, b, margin)
    return np.where(ids >= 0, scores, -np.inf)


def _best(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the best candidate's score and id."""
    col = scores.argmax(axis=1)
    rows = np.arange(len(scores))
    return scores[rows, col], ids[rows, col]


def _one_to_one(scores: np.ndarray, src: np.ndarray, tgt: np.ndarray,
                threshold: float | None) -> list[tuple[float, int, int]]:
    """Greedy by descending score, skipping any pair whose source or target is already used."""
    used_src: set[int] = set()
    used_tgt: set[int] = set()
    pairs: list[tuple[float, int, int]] = []
    for c in np.argsort(-scores, kind="stable"):
        score, i, j = float(scores[c]), int(src[c]), int(tgt[c])
        if threshold is not None and score < threshold:
            break  # sorted, so every later candidate is below the threshold too
        if i < 0 or j < 0 or not np.isfinite(score) or i in used_src or j in used_tgt:
            continue
        used_src.add(i)
        used_tgt.add(j)
        pairs.append((score, i, j))
    return pairs


def mine(x: np.ndarray, y: np.ndarray, k: int = 4, margin: str = "ratio", mode: str = "union",
         threshold: float | None = None, *, index: str = "flat", nlist: int | None = None,
         nprobe: int | None = None, progress: bool | None = None) -> list[tuple[float, int, int]]:
    """Mined pairs ``(score, src_idx, tgt_idx)``, best first, one-to-one, score >= threshold.

    mode: ``forward`` = each source's best target; ``backward`` = each target's best source;
    ``union`` = both candidate lists (LASER's "max"); ``intersect`` = pairs that are each other's
    best in both directions.
    """
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if margin not in MARGINS:
        raise ConfigError(f"margin must be one of {MARGINS}, got {margin!r}")
    if len(x) == 0 or len(y) == 0:
        return []
    nb = neighbours(x, y, k, index=index, nlist=nlist, nprobe=nprobe, progress=progress)
    fwd_score, fwd_best = _best(candidate_scores(nb.x2y_sims, nb.x2y_ids, nb.x_mean, nb.y_mean,
                                                 margin), nb.x2y_ids)  # (n,) each
    bwd_score, bwd_best = _best(candidate_scores(nb.y2x_sims, nb.y2x_ids, nb.y_mean, nb.x_mean,
                                                 margin), nb.y2x_ids)  # (m,) each
    src_all, tgt_all = np.arange(len(x)), np.arange(len(y))
    if mode == "forward":
        scores, src, tgt = fwd_score, src_all, fwd_best
    elif mode == "backward":
        scores, src, tgt = bwd_score, bwd_best, tgt_all
    elif mode == "union":
        scores = np.concatenate([fwd_score, bwd_score])
        src = np.concatenate([src_all, bwd_best])
        tgt = np.concatenate([fwd_best, tgt_all])
    else:
        found = fwd_best >= 0
        mutual = found & (bwd_best[np.maximum(fwd_best, 0)] == src_all)
        scores, src, tgt = fwd_score[mutual], src_all[mutual], fwd_best[mutual]
    return _one_to_one(scores, src, tgt, threshold)


def unique_lines(lines: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct non-blank lines in first-seen order and, per input line, its index among them.

    Blank lines map to -1: LASER embeds them, but an empty "sentence" can only mine noise.
    Embedding each distinct line once is what LASER does too; it also keeps a repeated line from
    being mined twice.
    """
    position: dict[str, int] = {}
    inverse = np.empty(len(lines), dtype=np.int64)
    for n, line in enumerate(lines):
        inverse[n] = -1 if not line.strip() else position.setdefault(line, len(position))
    return list(position), inverse


def embed(embedder: Embedder, sentences: list[str], lang: str, batch_size: int = 256,
          progress: bool | None = None) -> np.ndarray:
    """L2-normalised float32 embeddings (len(sentences), d), encoded in batches."""
    show = progress if progress is not None else len(sentences) > 10 * batch_size
    chunks = [np.asarray(embedder.encode(sentences[i:i + batch_size], lang), dtype=np.float32)
              for i in tqdm(range(0, len(sentences), batch_size), desc=f"embed {lang}",
                            unit="batch", disable=not show)]
    return normalize(np.concatenate(chunks)) if chunks else np.zeros((0, 0), dtype=np.float32)


def _tsv_field(text: str) -> str:
    # A tab inside a sentence would shift the columns; the output promises exactly three fields.
    return text.replace("\t", " ")


def mine_files(src_path: str | Path, tgt_path: str | Path, embedder: Embedder,
               out_path: str | Path, *, src_lang: str, tgt_lang: str, k: int = 4,
               margin: str = "ratio", mode: str = "union", threshold: float | None = None,
               index: str = "flat", nlist: int | None = None, nprobe: int | None = None,
               batch_size: int = 256, progress: bool | None = None) -> int:
    """Mine two one-sentence-per-line files into ``score<TAB>src<TAB>tgt`` lines; returns the count.

    Inputs are UTF-8 (.txt or .txt.gz). Identical lines are embedded and mined once; blank lines are
    skipped. ``out_path`` "-" writes to stdout; an output that is one of the inputs is refused.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if str(out_path) != "-":
        check_output(Path(out_path), [Path(src_path), Path(tgt_path)])
    src_text, _ = unique_lines(read_lines(src_path))
    tgt_text, _ = unique_lines(read_lines(tgt_path))
    x = embed(embedder, src_text, src_lang, batch_size, progress)
    y = embed(embedder, tgt_text, tgt_lang, batch_size, progress)
    pairs = mine(x, y, k, margin, mode, threshold, index=index, nlist=nlist, nprobe=nprobe,
                 progress=progress)
    lines = [f"{score:.6f}\t{_tsv_field(src_text[i])}\t{_tsv_field(tgt_text[j])}\n"
             for score, i, j in pairs]
    if str(out_path) == "-":
        sys.stdout.writelines(lines)
    else:
        with output_errors(out_path), open(out_path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(lines)
    return len(pairs)


def check_output(out: Path, inputs: list[Path]) -> None:
    """Fail before the (long) embedding when ``out`` cannot be written or is one of ``inputs``."""
    for source in inputs:
        same = out.resolve() == source.resolve() or (out.exists() and source.exists() and out.samefile(source))
        if same:
            raise OutputError(f"output {out} is also an input ({source}); mining would overwrite it: choose "
                              "another -o")
    if out.is_dir():
        raise OutputError(f"cannot write {out}: it is a folder")
    if not out.parent.is_dir():
        why = "is not a folder" if out.parent.exists() else "does not exist"
        raise OutputError(f"cannot write {out}: {out.parent} {why}")
