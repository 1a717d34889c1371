"""Top-1 retrieval accuracy: hand-computed cases, cosine invariances, sparse path vs dense path."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from interlingua.errors import InterlinguaError
from interlingua.evaluation import retrieval
from interlingua.evaluation.retrieval import nearest_neighbours, retrieval_scores, top1_accuracy

# src (non-English side) and tgt (English side), row i translates row i.
SRC = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.2]])
TGT = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5]])


def test_hand_computed_directions_differ() -> None:
    """|s2| = |(1, .2)| = 1.0198, |t2| = |(1, .5)| = 1.1180.

    xx2eng: s0 -> t0 (cos 1), s1 -> t1 (cos 1), but s2 -> t0: cos(s2, t0) = 1 / 1.0198 = .981 beats
    cos(s2, t2) = 1.1 / (1.0198 * 1.1180) = .965, so 2 of 3 are right: 66.67 %.
    eng2xx: t0 -> s0 (cos 1 > .981), t1 -> s1, and t2 -> s2 (.965 beats cos(t2, s0) = 1 / 1.1180 = .894
    and cos(t2, s1) = .5 / 1.1180 = .447): 3 of 3, 100 %. Mean 83.33 %.
    """
    assert nearest_neighbours(SRC, TGT).tolist() == [0, 1, 0]
    scores = retrieval_scores(SRC, TGT)
    assert scores["xx2eng"] == pytest.approx(200 / 3)
    assert scores["eng2xx"] == pytest.approx(100.0)
    assert scores["mean"] == pytest.approx(250 / 3)


def test_cosine_ignores_row_scale() -> None:
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    tgt[:25] = src[:25] + 0.3 * rng.normal(size=(25, 8))
    scaled = retrieval_scores(src * rng.uniform(0.01, 100, size=(40, 1)), tgt * rng.uniform(0.01, 100, size=(40, 1)))
    assert scaled == retrieval_scores(src, tgt)
    assert 0 < scaled["mean"] < 100


def test_ties_go_to_lowest_index_on_both_paths() -> None:
    """Candidates 0 and 1 are identical, so query 1 retrieves candidate 0 and counts as wrong."""
    cands = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert nearest_neighbours(cands, cands).tolist() == [0, 0, 2]
    assert nearest_neighbours(sp.csr_matrix(cands), sp.csr_matrix(cands)).tolist() == [0, 0, 2]
    assert top1_accuracy(cands, cands) == pytest.approx(200 / 3)


def test_sparse_path_equals_dense_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    src = rng.random((60, 30)) * (rng.random((60, 30)) < 0.2)
    tgt = src + 0.5 * rng.random((60, 30)) * (rng.random((60, 30)) < 0.2)
    tgt[0] = 0.0  # an all-zero row must not produce NaNs on either path
    dense_nn = nearest_neighbours(src, tgt)
    monkeypatch.setattr(retrieval, "_MAX_BLOCK_ELEMENTS", 7 * 60)  # forces 9 chunks of 7 query rows
    assert nearest_neighbours(sp.csr_matrix(src), sp.csr_matrix(tgt)).tolist() == dense_nn.tolist()
    assert retrieval_scores(sp.csr_matrix(src), tgt) == retrieval_scores(src, tgt)


def test_extra_candidates_are_distractors() -> None:
    queries = np.eye(3)
    assert top1_accuracy(queries, np.vstack([np.eye(3), 2 * np.eye(3)[:1]])) == pytest.approx(100.0)
    assert top1_accuracy(queries, np.vstack([np.eye(3)[[1, 0, 2]], np.eye(3)])) == pytest.approx(100 / 3)


@pytest.mark.parametrize(
    ("queries", "candidates"),
    [(np.zeros((3, 2)), np.zeros((3, 4))), (np.zeros((3, 2)), np.zeros((2, 2))), (np.zeros((0, 2)), np.zeros((2, 2)))],
)
def test_bad_shapes_raise(queries: np.ndarray, candidates: np.ndarray) -> None:
    with pytest.raises(InterlinguaError):
        top1_accuracy(queries, candidates)


def test_retrieval_scores_needs_aligned_sides() -> None:
    with pytest.raises(InterlinguaError, match="aligned"):
        retrieval_scores(np.eye(3), np.eye(4)[:, :3])
