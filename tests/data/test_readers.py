from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from interlingua.data import paths, readers
from interlingua.data.langcodes import to_iso3
from interlingua.errors import CorpusError


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _tsv(path: Path, header: str, rows: list[str]) -> Path:
    return _write(path, ("\n".join([header, *rows]) + "\n").encode())


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "corpora"
    root.mkdir()
    monkeypatch.setenv("INTERLINGUA_DATA", str(root))
    return root


def test_read_lines_txt_and_gz(tmp_path: Path) -> None:
    plain = _write(tmp_path / "a.txt", b"\xef\xbb\xbfeins\r\n\nzwei\n")
    packed = _write(tmp_path / "a.txt.gz", "eins\n\nzwei".encode())
    assert readers.read_lines(plain) == ["eins", "", "zwei"]  # BOM and CR gone, empty line kept
    assert readers.read_lines(packed) == ["eins", "", "zwei"]


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.txt.gz", b"ok\nalso ok\nbroken \xff\xfe here\nfine\n")
    with pytest.raises(CorpusError, match=r"bad\.txt\.gz: line 3 is not valid UTF-8"):
        readers.read_lines(path)


def test_skip_invalid_counts(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.txt", b"ok\n\xc3(\nfine\n\xff\n")
    lines = readers.read_lines(path, skip_invalid=True)
    assert lines == ["ok", "fine"]
    assert lines.skipped == 2


def test_misaligned_files_name_both_files_and_counts(tmp_path: Path) -> None:
    src = _write(tmp_path / "train.eng.txt", b"a\nb\nc\n")
    tgt = _write(tmp_path / "train.deu.txt", b"x\ny\n")
    with pytest.raises(CorpusError) as info:
        readers.read_line_aligned(src, tgt)
    msg = str(info.value)
    assert "train.eng.txt has 3 lines" in msg and "train.deu.txt has 2" in msg


def test_aligned_skip_invalid_drops_the_whole_pair(tmp_path: Path) -> None:
    src = _write(tmp_path / "s.txt", b"a\nb\nc\n")
    tgt = _write(tmp_path / "t.txt", b"x\n\xff\nz\n")
    pairs = readers.read_line_aligned(src, tgt, skip_invalid=True)
    assert pairs == [("a", "x"), ("c", "z")]
    assert pairs.skipped == 1


def test_read_tsv_checks_header_and_field_counts(tmp_path: Path) -> None:
    good = _tsv(tmp_path / "g.tsv", "id\ttext", ["1\tone", "2\ttwo"])
    assert readers.read_tsv(good, ["id", "text"]) == [("1", "one"), ("2", "two")]
    with pytest.raises(CorpusError, match=r"header is \['id', 'text'\], expected \['verse_id', 'text'\]"):
        readers.read_tsv(good, ["verse_id", "text"])
    bad = _tsv(tmp_path / "b.tsv", "id\ttext", ["1\tone", "2\ttwo\textra"])
    with pytest.raises(CorpusError, match=r"b\.tsv: line 3 has 3 fields, the header has 2"):
        readers.read_tsv(bad, ["id", "text"])


def test_missing_data_root_explains_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINGUA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(CorpusError, match="INTERLINGUA_DATA"):
        paths.data_root()
    monkeypatch.delenv("INTERLINGUA_DATA")
    monkeypatch.setattr(paths, "_default_roots", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(CorpusError, match=r"looked in .*a, .*b\); set INTERLINGUA_DATA"):
        paths.data_root()


def test_corpus_file_names_file_and_root(fake_root: Path) -> None:
    with pytest.raises(CorpusError, match=rf"bible/xxx\.tsv\.gz not found under data root {fake_root}"):
        paths.corpus_file("bible/xxx.tsv.gz")


def test_bible_pairs_join_on_verse_id(fake_root: Path) -> None:
    _tsv(fake_root / "bible/eng.tsv.gz", "verse_id\ttext",
         ["MAT.1.1\tE one", "MAT.1.2\tE two", "MAT.2.1\tE three", "JHN.3.16\tE four"])
    _tsv(fake_root / "bible/deu.tsv.gz", "verse_id\ttext",
         ["MAT.1.2\tD two", "MAT.2.1\tD three", "JHN.3.16\tD four", "REV.1.1\tD five"])
    assert readers.read_bible("deu")["JHN.3.16"] == "D four"
    assert readers.bible_pairs("eng", "de") == [("E two", "D two"), ("E three", "D three"), ("E four", "D four")]
    assert readers.bible_documents("eng") == [["E one", "E two"], ["E three"], ["E four"]]
    with pytest.raises(CorpusError, match="did you mean deu"):
        readers.read_bible("deux")


def test_udhr_documents_by_article(fake_root: Path) -> None:
    _tsv(fake_root / "udhr/deu_1996.tsv.gz", "article.paragraph\ttext", ["0.1\tP a", "0.2\tP b", "1.1\tA1", "2.1\tA2"])
    _tsv(fake_root / "udhr/deu_1901.tsv.gz", "article.paragraph\ttext", ["0.1\told"])
    assert readers.read_udhr("deu") == ["P a", "P b", "A1", "A2"]  # the 1996 orthography is preferred
    assert readers.udhr_documents("deu") == [["P a", "P b"], ["A1"], ["A2"]]
    assert readers.read_udhr("deu_1901") == ["old"]


def test_multi30k_and_flores(fake_root: Path) -> None:
    _write(fake_root / "multi30k/train.deu.txt.gz", b"Ein Hund.\n")
    _write(fake_root / "flores200/devtest/zho_Hans.txt.gz", "\u4f60\u597d\n".encode())
    assert readers.read_multi30k("de", "train") == ["Ein Hund."]
    with pytest.raises(CorpusError, match="unknown Multi30k split"):
        readers.read_multi30k("deu", "dev")
    assert readers.read_flores("zho") == ["\u4f60\u597d"]
    with pytest.raises(CorpusError, match="no FLORES-200 file for zho_Hant; did you mean zho_Hans"):
        readers.read_flores("zho_Hant")


def test_read_user_pairs(tmp_path: Path) -> None:
    src = _write(tmp_path / "a.en", b"Hello\n\nBye\n")
    tgt = _write(tmp_path / "a.de", b"Hallo\nleer\nTschuess\n")
    assert readers.read_user_pairs(f"{src},{tgt}", pivot="eng", lang="deu") == [("Hello", "Hallo"), ("Bye", "Tschuess")]
    tsv = _tsv(tmp_path / "p.tsv", "en\tde", ["Yes\tJa", "No\tNein"])
    assert readers.read_user_pairs(str(tsv), pivot="eng", lang="deu") == [("Yes", "Ja"), ("No", "Nein")]
    with pytest.raises(CorpusError, match="expected SRC.txt,TGT.txt or a .tsv"):
        readers.read_user_pairs(str(src), pivot="eng", lang="deu")


@pytest.mark.parametrize("header", ["eng\tdeu", "deu\teng", "DEU\tEN", "deu_Latn\teng_Latn", "ger\ten-GB"])
def test_user_tsv_header_names_pick_the_pivot_column(header: str, tmp_path: Path) -> None:
    """Issue 6: a header `deu<TAB>eng` (columns reversed) silently made German the pivot side."""
    first, second = ("Yes", "Ja") if to_iso3(header.split("\t")[0]) == "eng" else ("Ja", "Yes")
    tsv = _tsv(tmp_path / "p.tsv", header, [f"{first}\t{second}"])
    assert readers.read_user_pairs(str(tsv), pivot="eng", lang="deu") == [("Yes", "Ja")]


@pytest.mark.parametrize("first_row", ["Hello\tHallo", "Yes\tJa", "eng\tfra", "text\ttranslation", "eng\tdeu\tfra"])
def test_user_tsv_without_the_languages_header_is_an_error(first_row: str, tmp_path: Path) -> None:
    """Issue 6: a file without a header silently lost its first pair. (`Yes` and `Ja` look like the codes
    yes and ja = jpn: only the configured languages are accepted.)"""
    tsv = _tsv(tmp_path / "pairs.tsv", first_row, ["Good\tGut"])
    got = first_row.replace("\t", "<TAB>")
    with pytest.raises(CorpusError, match=rf"pairs\.tsv:1: expected a header naming the languages, "
                                          rf"e\.g\. 'eng<TAB>deu'.*; got '{got}'"):
        readers.read_user_pairs(str(tsv), pivot="eng", lang="deu")


def test_invalid_utf8_message_names_a_real_remedy(tmp_path: Path) -> None:
    """The message suggested skip_invalid=True, which no command or config key accepts."""
    path = _write(tmp_path / "bad.txt", b"ok\n\xff\n")
    with pytest.raises(CorpusError) as info:
        readers.read_lines(path)
    assert "skip_invalid=True" not in str(info.value) and "data.skip_invalid_utf8=true" in str(info.value)
    tsv = _tsv(tmp_path / "p.tsv", "eng\tdeu", ["Yes\tJa", "No\tNein"])
    tsv.write_bytes(tsv.read_bytes() + b"bad \xff\tschlecht\n")
    assert readers.read_user_pairs(str(tsv), pivot="eng", lang="deu", skip_invalid=True) == [("Yes", "Ja"), ("No", "Nein")]


def test_real_tatoeba_deu() -> None:
    try:
        paths.data_root()
    except CorpusError as exc:
        pytest.skip(f"shared corpora not available (set INTERLINGUA_DATA): {exc}")
    deu, eng = readers.read_tatoeba("deu")
    assert len(deu) == len(eng) == 1000
    assert all(deu) and all(eng)
