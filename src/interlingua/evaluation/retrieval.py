"""Bitext retrieval metrics: top-1 accuracy by cosine similarity over the whole candidate set.

    acc@1 = 100 / N · Σ_i [ argmax_j cos(q_i, c_j) = i ]

This is how LASER (Artetxe & Schwenk, 2019) and LaBSE (Feng et al., 2022) report Tatoeba: every source
sentence is compared with every target sentence of the same language pair, in both directions, and the
two directions are averaged. Dense embeddings go through an exact faiss ``IndexFlatIP`` on L2-normalised
rows; sparse matrices (TF-IDF) go through a chunked sparse matmul, so memory stays bounded.

Ties (e.g. a sentence that occurs twice among the candidates): faiss keeps the lowest candidate index,
and the sparse path uses ``np.argmax``, which does the same, so both paths agree. A query whose gold
candidate is an exact duplicate of an earlier candidate is therefore counted wrong, as in LASER's script.
"""
from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp

from interlingua.errors import InterlinguaError

Matrix = np.ndarray | sp.spmatrix | sp.sparray

# Upper bound on the dense similarity block the sparse path materialises at once (float32 elements).
_MAX_BLOCK_ELEMENTS = 1 << 24


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as contiguous float32; all-zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _l2_normalize_sparse(x: Matrix) -> sp.csr_matrix:
    x = sp.csr_matrix(x, dtype=np.float32)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x)


def _check_shapes(queries: Matrix, candidates: Matrix) -> None:
    if queries.ndim != 2 or candidates.ndim != 2:
        raise InterlinguaError(f"retrieval: expected 2-D matrices, got {queries.shape} and {candidates.shape}")
    if queries.shape[1] != candidates.shape[1]:
        raise InterlinguaError(
            f"retrieval: embedding sizes differ: queries {queries.shape}, candidates {candidates.shape}"
        )
    if queries.shape[0] == 0:
        raise InterlinguaError("retrieval: no queries")
    if candidates.shape[0] < queries.shape[0]:
        raise InterlinguaError(
            f"retrieval: query i must retrieve candidate i, but there are {queries.shape[0]} queries "
            f"and only {candidates.shape[0]} candidates"
        )


def _nearest_dense(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    index = faiss.IndexFlatIP(candidates.shape[1])
    index.add(l2_normalize(candidates))
    _, ids = index.search(l2_normalize(queries), 1)  # (N, 1)
    return ids[:, 0]


def _nearest_sparse(queries: Matrix, candidates: Matrix) -> np.ndarray:
    q = _l2_normalize_sparse(queries)
    c_t = _l2_normalize_sparse(candidates).T.tocsc()  # (D, M)
    chunk = max(1, _MAX_BLOCK_ELEMENTS // candidates.shape[0])
    out = np.empty(q.shape[0], dtype=np.int64)
    for start in range(0, q.shape[0], chunk):
        block = (q[start : start + chunk] @ c_t).toarray()  # (chunk, M)
        out[start : start + chunk] = block.argmax(axis=1)
    return out


def nearest_neighbours(queries: Matrix, candidates: Matrix) -> np.ndarray:
    """Index of the most cosine-similar candidate for every query row, shape (N,).

    Dense inputs use exact faiss inner-product search; if either input is a scipy sparse matrix both
    are treated as sparse. Ties go to the lowest candidate index on both paths.
    """
    _check_shapes(queries, candidates)
    if sp.issparse(queries) or sp.issparse(candidates):
        return _nearest_sparse(queries, candidates)
    return _nearest_dense(np.asarray(queries), np.asarray(candidates))


def top1_accuracy(queries: Matrix, candidates: Matrix) -> float:
    """Percentage (0..100) of query rows i whose nearest candidate by cosine is candidate row i.

    Args:
        queries: (N, D) dense array or scipy sparse matrix.
        candidates: (M, D) with M >= N; rows beyond N act as distractors.
    """
    hits = nearest_neighbours(queries, candidates) == np.arange(queries.shape[0])
    return 100.0 * float(hits.mean())


def retrieval_scores(src: Matrix, tgt: Matrix) -> dict[str, float]:
    """Top-1 accuracy (percent) in both directions for line-aligned embeddings, and their mean.

    ``src`` holds the non-English side, ``tgt`` the English side: ``xx2eng`` retrieves English
    sentences for each ``src`` row, ``eng2xx`` the reverse.
    """
    if src.shape[0] != tgt.shape[0]:
        raise InterlinguaError(f"retrieval_scores: sides are not aligned: {src.shape[0]} vs {tgt.shape[0]} rows")
    xx2eng = top1_accuracy(src, tgt)
    eng2xx = top1_accuracy(tgt, src)
    return {"xx2eng": xx2eng, "eng2xx": eng2xx, "mean": (xx2eng + eng2xx) / 2.0}
