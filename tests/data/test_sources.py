from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from interlingua.config import DataConfig, load_config
from interlingua.data import gettext_corpus
from interlingua.data.paths import data_root
from interlingua.data.sources import ParallelData, corpus_stats, load_documents, load_parallel, seeded_head
from interlingua.errors import CorpusError


def _tsv_gz(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join([header, *rows]) + "\n").encode()))


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "corpora"
    verses = [f"MAT.1.{i}" for i in range(1, 11)]
    _tsv_gz(root / "bible/eng.tsv.gz", "verse_id\ttext", [f"{v}\tEnglish {v}" for v in verses])
    _tsv_gz(root / "bible/deu.tsv.gz", "verse_id\ttext", [f"{v}\tDeutsch {v}" for v in verses[::2]])
    _tsv_gz(root / "bible/fra.tsv.gz", "verse_id\ttext", ["REV.1.1\tApocalypse"])  # no verse shared with eng
    _tsv_gz(root / "udhr/deu_1996.tsv.gz", "article.paragraph\ttext", ["0.1\tPräambel", "1.1\tArtikel 1", "1.2\tmehr"])
    monkeypatch.setenv("INTERLINGUA_DATA", str(root))
    return root


def test_bible_pairs_with_pivot_first(fake_root: Path) -> None:
    data = load_parallel(DataConfig(corpus="bible", langs=["de"], pivot="eng"))
    assert data.pivot == "eng"
    assert data.counts() == {"deu": 5}
    assert data.pairs["deu"][0] == ("English MAT.1.1", "Deutsch MAT.1.1")


def test_unknown_language_suggests_and_empty_corpus_is_named(fake_root: Path) -> None:
    with pytest.raises(CorpusError, match="unknown language deux; did you mean deu"):
        load_parallel(DataConfig(corpus="bible", langs=["deux"]))
    with pytest.raises(CorpusError, match="corpus bible has no pairs for language fra"):
        load_parallel(DataConfig(corpus="bible", langs=["deu", "fra"]))


def test_cap_is_a_seeded_subset(fake_root: Path) -> None:
    full = load_parallel(DataConfig(corpus="bible", langs=["deu"])).pairs["deu"]
    capped = load_parallel(DataConfig(corpus="bible", langs=["deu"], max_pairs_per_lang=3)).pairs["deu"]
    again = load_parallel(DataConfig(corpus="bible", langs=["deu"], max_pairs_per_lang=3)).pairs["deu"]
    assert capped == again and len(capped) == 3 and set(capped) <= set(full)
    assert seeded_head([("a", "b")] * 2, 0) == [("a", "b")] * 2


def test_files_corpus(tmp_path: Path) -> None:
    (tmp_path / "x.en").write_text("Hello\nBye\n", encoding="utf-8")
    (tmp_path / "x.de").write_text("Hallo\nTschüss\n", encoding="utf-8")
    (tmp_path / "fr.tsv").write_text("en\tfr\nYes\tOui\n", encoding="utf-8")
    cfg = DataConfig(corpus="files", files=[f"de={tmp_path}/x.en,{tmp_path}/x.de", f"fr={tmp_path}/fr.tsv"])
    data = load_parallel(cfg)
    assert data.pairs == {"deu": [("Hello", "Hallo"), ("Bye", "Tschüss")], "fra": [("Yes", "Oui")]}
    with pytest.raises(CorpusError, match="expected LANG=SRC.txt,TGT.txt or LANG=file.tsv"):
        load_parallel(DataConfig(corpus="files", files=[f"{tmp_path}/fr.tsv"]))


def test_gettext_corpus_from_a_po_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locale = tmp_path / "locale"
    (locale / "de/LC_MESSAGES").mkdir(parents=True)
    (locale / "de/LC_MESSAGES/app.po").write_text(
        'msgid "_Open File..."\nmsgstr "Datei ö_ffnen …"\n\nmsgid "Print page"\nmsgstr "Seite drucken"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(gettext_corpus, "DEFAULT_DIRS", (locale,))
    monkeypatch.setenv("INTERLINGUA_CACHE", str(tmp_path / "cache"))
    data = load_parallel(DataConfig(corpus="gettext", langs=["deu"]))
    assert data.pairs == {"deu": [("Print page", "Seite drucken"), ("Open File", "Datei öffnen")]}
    with pytest.raises(CorpusError, match="pairs every language with English"):
        load_parallel(DataConfig(corpus="gettext", langs=["deu"], pivot="fra"))


def test_corpus_stats_uses_smoothed_probs() -> None:
    """n = 8 and 1 with alpha = 1/3: weights 2 and 1, so p = 2/3 and 1/3."""
    rows = corpus_stats(ParallelData("eng", {"deu": [("a", "b")] * 8, "fra": [("a", "c")]}), alpha=1 / 3)
    assert [(r["lang"], r["pairs"]) for r in rows] == [("deu", 8), ("fra", 1)]
    assert rows[0]["prob"] == pytest.approx(2 / 3) and rows[1]["prob"] == pytest.approx(1 / 3)


def test_documents(fake_root: Path) -> None:
    assert load_documents("udhr", ["deu"]) == {"deu": [["Präambel"], ["Artikel 1", "mehr"]]}
    assert len(load_documents("bible", ["deu"])["deu"]) == 1  # one chapter, MAT.1
    with pytest.raises(CorpusError, match="unknown document corpus"):
        load_documents("wiki", ["deu"])


def test_unknown_corpus() -> None:
    with pytest.raises(CorpusError, match="unknown data.corpus 'web'"):
        load_parallel(DataConfig(corpus="web"))


def test_real_tatoeba_pairs() -> None:
    try:
        data_root()
    except CorpusError as exc:
        pytest.skip(f"shared corpora not available (set INTERLINGUA_DATA): {exc}")
    data = load_parallel(DataConfig(corpus="tatoeba", langs=["deu", "zho"]))
    assert data.counts() == {"deu": 1000, "zho": 1000}


def test_joined_corpora_and_all_languages(tmp_path):
    """`a+b` merges per language; `langs=[all]` takes every language of every corpus."""
    from interlingua.config import DataConfig
    from interlingua.data.sources import load_parallel

    (tmp_path / "de.tsv").write_text("eng\tdeu\nhello\thallo\n", encoding="utf-8")
    (tmp_path / "fr.tsv").write_text("eng\tfra\nhello\tbonjour\n", encoding="utf-8")
    cfg = DataConfig(corpus="files+files", langs=["all"], files=[f"deu={tmp_path / 'de.tsv'}", f"fra={tmp_path / 'fr.tsv'}"])
    data = load_parallel(cfg)
    assert data.counts() == {"deu": 2, "fra": 2}


def test_files_tsv_columns_follow_the_header_names(tmp_path: Path) -> None:
    """Issue 6: `deu<TAB>eng` put German on the pivot side; a file without a header lost its first pair."""
    (tmp_path / "rev.tsv").write_text("deu\teng\nJa\tYes\nNein\tNo\n", encoding="utf-8")
    (tmp_path / "bare.tsv").write_text("Yes\tJa\nNo\tNein\n", encoding="utf-8")
    data = load_parallel(DataConfig(corpus="files", files=[f"deu={tmp_path / 'rev.tsv'}"]))
    assert data.pairs == {"deu": [("Yes", "Ja"), ("No", "Nein")]}
    with pytest.raises(CorpusError, match=r"bare\.tsv:1: expected a header naming the languages, e\.g\. 'eng<TAB>deu'"):
        load_parallel(DataConfig(corpus="files", files=[f"deu={tmp_path / 'bare.tsv'}"]))


def test_files_skip_invalid_utf8_is_a_config_key(tmp_path: Path) -> None:
    (tmp_path / "x.en").write_bytes(b"Hello\nBad \xff\nBye\n")
    (tmp_path / "x.de").write_text("Hallo\nSchlecht\nTschuess\n", encoding="utf-8")
    files = [f"deu={tmp_path}/x.en,{tmp_path}/x.de"]
    with pytest.raises(CorpusError, match=r"x\.en: line 2 is not valid UTF-8.*data\.skip_invalid_utf8=true"):
        load_parallel(DataConfig(corpus="files", files=files))
    assert load_config(None, ["data.skip_invalid_utf8=true"]).data.skip_invalid_utf8 is True
    cfg = DataConfig(corpus="files", files=files, skip_invalid_utf8=True)
    assert load_parallel(cfg).pairs == {"deu": [("Hello", "Hallo"), ("Bye", "Tschuess")]}
