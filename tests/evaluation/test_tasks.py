"""Tatoeba / FLORES tasks: result layout on a synthetic data root, code resolution, real-data smoke runs."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from interlingua.data.paths import data_root
from interlingua.errors import ConfigError, InterlinguaError
from interlingua.evaluation.embedders import get_embedder
from interlingua.evaluation.tasks import evaluate_flores, evaluate_tatoeba, evaluator


class RecordingEmbedder:
    """Embeds a sentence as the one-hot of its position in a fixed list, so retrieval is exact;
    remembers which languages and sentences it was asked to encode."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        self.calls.append((lang, list(sentences)))
        return np.eye(len(sentences), 64)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tatoeba pairs for deu (3 lines), cmn (2) and LASER's kzj / dtp (distinct texts); FLORES deu/eng."""
    for code, n in [("deu", 3), ("cmn", 2), ("kzj", 2), ("dtp", 2)]:
        _write(tmp_path / f"tatoeba/{code}-eng.{code}.txt.gz", [f"{code} sentence {i}" for i in range(n)])
        _write(tmp_path / f"tatoeba/{code}-eng.eng.txt.gz", [f"english {code} {i}" for i in range(n)])
    for code in ["deu_Latn", "eng_Latn", "fra_Latn"]:
        _write(tmp_path / f"flores200/devtest/{code}.txt.gz", [f"{code} {i}" for i in range(4)])
    monkeypatch.setenv("INTERLINGUA_DATA", str(tmp_path))
    return tmp_path


def test_tatoeba_result_layout(fake_root: Path) -> None:
    embedder = RecordingEmbedder()
    result = evaluate_tatoeba(embedder, ["deu", "zho"], progress=False)
    assert result["task"] == "tatoeba" and result["model"] == "recording"
    assert list(result["langs"]) == ["deu", "zho"]  # keyed by the code the caller gave
    assert result["langs"]["deu"] == {"xx2eng": 100.0, "eng2xx": 100.0, "mean": 100.0, "n": 3}
    assert result["langs"]["zho"]["n"] == 2  # zho -> LASER cmn
    assert result["average"] == {"xx2eng": 100.0, "eng2xx": 100.0, "mean": 100.0}
    assert result["metrics"]["tatoeba/deu-eng/acc@1"] == 100.0
    assert result["metrics"]["tatoeba/average/acc@1"] == 100.0
    assert [lang for lang, _ in embedder.calls] == ["deu", "eng", "zho", "eng"]  # ISO 639-3 to encode()


def test_tatoeba_all_languages_and_laser_codes(fake_root: Path) -> None:
    """None means every pair on disk, keyed by LASER code; kzj must read its own files, not dtp's."""
    embedder = RecordingEmbedder()
    result = evaluate_tatoeba(embedder, None, max_sentences=2, progress=False)
    assert sorted(result["langs"]) == ["cmn", "deu", "dtp", "kzj"]
    assert result["langs"]["deu"]["n"] == 2
    encoded = {sentences[0] for _, sentences in embedder.calls}
    assert {"kzj sentence 0", "dtp sentence 0"} <= encoded


def test_unknown_language_raises(fake_root: Path) -> None:
    with pytest.raises(ConfigError, match="klingon|tlh"):
        evaluate_tatoeba(RecordingEmbedder(), ["tlh"], progress=False)
    with pytest.raises(ConfigError):
        evaluate_tatoeba(RecordingEmbedder(), [], progress=False)


def test_flores_keys_and_pivot(fake_root: Path) -> None:
    embedder = RecordingEmbedder()
    result = evaluator("flores", progress=False)(embedder, None)
    assert list(result["langs"]) == ["deu_Latn", "fra_Latn"]  # the pivot is left out
    assert result["pivot"] == "eng_Latn"
    assert "flores/deu_Latn-eng_Latn/acc@1" in result["metrics"]
    result = evaluate_flores(embedder, ["fra"], pivot="deu", progress=False)
    assert list(result["langs"]) == ["fra_Latn"] and result["pivot"] == "deu_Latn"
    with pytest.raises(ConfigError, match="pivot"):
        evaluate_flores(embedder, ["eng"], progress=False)


def _real_data_available() -> bool:
    try:
        return (data_root() / "tatoeba" / "deu-eng.deu.txt.gz").is_file()
    except InterlinguaError:
        return False


@pytest.mark.skipif(not _real_data_available(), reason="shared Tatoeba corpus not found")
def test_char_tfidf_on_real_tatoeba() -> None:
    result = evaluate_tatoeba(get_embedder("baseline:char-tfidf"), ["deu", "fra"], progress=False)
    for lang in ("deu", "fra"):
        scores = result["langs"][lang]
        assert scores["n"] == 1000
        # Surface overlap alone gets a fifth of German/French right (about 24 % measured) but far from all.
        assert 10.0 < scores["mean"] < 60.0
    expected = (result["langs"]["deu"]["mean"] + result["langs"]["fra"]["mean"]) / 2
    assert result["average"]["mean"] == pytest.approx(expected)
