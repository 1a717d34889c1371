from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from interlingua.errors import ConfigError, CorpusError
from interlingua.evaluation.bucc import (
    BuccSet,
    best_threshold,
    build_bucc_like,
    evaluate_mining,
    score_mined,
)
from interlingua.mining import mine, normalize

N_FLORES = 1012


def _root() -> Path:
    try:
        from interlingua.data.paths import data_root

        root = data_root()
    except CorpusError as err:
        pytest.skip(f"shared corpora not available: {err}")
    if not (root / "flores200" / "devtest" / "deu_Latn.txt.gz").is_file():
        pytest.skip(f"FLORES-200 devtest not under {root}; set INTERLINGUA_DATA to the corpora")
    return root


def _flores(root: Path, code: str) -> list[str]:
    with gzip.open(root / "flores200" / "devtest" / f"{code}.txt.gz", "rt", encoding="utf-8") as f:
        return f.read().splitlines()


@pytest.fixture(scope="module")
def deu() -> BuccSet:
    _root()
    return build_bucc_like("deu", n_distractors=2000, seed=0)


def test_score_mined_by_hand() -> None:
    """gold = {(0,0), (1,1), (2,2), (3,3)}; mined (0,0), (1,1), (2,3): 2 correct of 3 mined.

    precision = 2/3, recall = 2/4, F1 = 2·(2/3)(1/2) / (2/3 + 1/2) = 4/7.
    """
    gold = {(0, 0), (1, 1), (2, 2), (3, 3)}
    mined = [(0.9, 0, 0), (0.8, 1, 1), (0.7, 2, 3)]
    assert score_mined(mined, gold) == pytest.approx({"precision": 2 / 3, "recall": 0.5,
                                                     "f1": 4 / 7})
    assert score_mined([(i, j) for _, i, j in mined], gold) == score_mined(mined, gold)
    assert score_mined([], gold) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_best_threshold_by_hand() -> None:
    """Ranked correctness 1, 1, 0, 1, 0 against 4 gold pairs; F1 at each cut:

    top 1: P 1, R .25 -> .4;  top 2: P 1, R .5 -> .667;  top 3: P .667, R .5 -> .571;
    top 4: P .75, R .75 -> .75 (best, threshold = 4th score .6);  top 5: P .6, R .75 -> .667.
    """
    gold = {(0, 0), (1, 1), (2, 2), (3, 3)}
    mined = [(0.9, 0, 0), (0.8, 1, 1), (0.7, 2, 4), (0.6, 3, 3), (0.5, 4, 2)]
    best = best_threshold(mined, gold)
    assert best == pytest.approx({"threshold": 0.6, "precision": 0.75, "recall": 0.75, "f1": 0.75})


def test_best_threshold_keeps_ties_together() -> None:
    # Cutting between the two 0.8s would give F1 2/3 at a threshold that cannot separate them.
    gold = {(0, 0), (5, 5)}
    best = best_threshold([(0.8, 0, 0), (0.8, 1, 1)], gold)
    assert best["threshold"] == 0.8 and best["precision"] == 0.5


def test_sizes(deu: BuccSet) -> None:
    assert deu.lang == "deu_Latn"
    assert len(deu.src) == len(deu.tgt) == N_FLORES + 2000
    assert len(deu.gold) == N_FLORES
    assert len({i for i, _ in deu.gold}) == len({j for _, j in deu.gold}) == N_FLORES
    assert len(set(deu.src)) == len(deu.src) and len(set(deu.tgt)) == len(deu.tgt)


def test_gold_maps_flores_translations(deu: BuccSet) -> None:
    root = _root()
    deu_lines, eng_lines = _flores(root, "deu_Latn"), _flores(root, "eng_Latn")
    line_of = {text: n for n, text in enumerate(deu_lines)}
    for i, j in deu.gold:
        assert deu.tgt[j] == eng_lines[line_of[deu.src[i]]]
    # Every sentence outside the gold is a distractor, not a FLORES line.
    gold_src, gold_tgt = {i for i, _ in deu.gold}, {j for _, j in deu.gold}
    assert not {s for n, s in enumerate(deu.src) if n not in gold_src} & set(deu_lines)
    assert not {t for n, t in enumerate(deu.tgt) if n not in gold_tgt} & set(eng_lines)


def test_deterministic_by_seed(deu: BuccSet) -> None:
    assert build_bucc_like("deu_Latn", 2000, seed=0) == deu
    other = build_bucc_like("deu_Latn", 2000, seed=1)
    assert other.src != deu.src and other.gold != deu.gold


def test_unknown_language_is_a_corpus_error() -> None:
    _root()
    with pytest.raises(CorpusError, match="xxx"):
        build_bucc_like("xxx")


def tfidf_vectors(src: list[str], tgt: list[str]) -> tuple[np.ndarray, np.ndarray]:
    # Capped vocabulary: all ~91k char n-grams as dense float32 would take ~1 GB per side.
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), max_features=8192,
                                 dtype=np.float32)
    vectorizer.fit(src + tgt)
    return (normalize(vectorizer.transform(src).toarray()),
            normalize(vectorizer.transform(tgt).toarray()))


def test_tfidf_baseline_mines_german(deu: BuccSet) -> None:
    """Char 3-5-gram TF-IDF (8192 features), ratio margin, k = 4, union, 2000 distractors.

    Measured: P .392 R .621 F1 .481 without a threshold; best-threshold F1 .576 (P .662 R .510).
    """
    x, y = tfidf_vectors(deu.src, deu.tgt)
    pairs = mine(x, y, k=4, margin="ratio", mode="union")
    assert score_mined(pairs, deu.gold)["f1"] > 0.4
    assert best_threshold(pairs, deu.gold)["f1"] > 0.5


class CharCountEmbedder:
    name = "char-count"

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        out = np.zeros((len(sentences), 64), dtype=np.float32)
        for row, sentence in enumerate(sentences):
            for ch in sentence:
                out[row, ord(ch) % 64] += 1
        return out


def test_evaluate_mining_reports_paths() -> None:
    _root()
    result = evaluate_mining(CharCountEmbedder(), ["deu"], n_distractors=100)
    names = {"precision", "recall", "f1", "best_threshold", "best_precision", "best_recall",
             "best_f1"}
    metrics = result["metrics"]
    assert set(metrics) == {f"bucc/{key}/{name}" for key in ("deu-eng", "average") for name in names} - {
        "bucc/average/best_threshold"}
    assert 0.0 <= metrics["bucc/deu-eng/f1"] <= metrics["bucc/deu-eng/best_f1"] <= 100.0  # percent
    assert (result["task"], result["model"], result["langs"]["deu"]["n"]) == ("bucc", "char-count", N_FLORES)
    assert result["average"]["f1"] == metrics["bucc/deu-eng/f1"]


def test_evaluate_mining_needs_languages() -> None:
    with pytest.raises(ConfigError, match="--langs"):
        evaluate_mining(CharCountEmbedder(), None)
