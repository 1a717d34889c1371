from __future__ import annotations

from pathlib import Path

import pytest

from interlingua.data.langcodes import check_lang, flores_code, pick_variant, tatoeba_code, to_iso3
from interlingua.data.paths import data_root
from interlingua.errors import CorpusError


@pytest.mark.parametrize(
    "code, iso",
    [
        ("de", "deu"), ("de_CH", "deu"), ("pt", "por"), ("pt_BR", "por"), ("pt-PT", "por"),
        ("zh_CN", "zho"), ("zh_TW", "zho"), ("zh_Hant", "zho"), ("nb", "nob"), ("nb_NO", "nob"),
        ("no", "nob"), ("sr@latin", "srp"), ("sr@ije", "srp"), ("ca@valencia", "cat"), ("mo", "ron"),
        ("iw", "heb"), ("en@quot", "eng"), ("de_DE.UTF-8", "deu"), ("ger", "deu"), ("deu", "deu"),
        ("deu_Latn", "deu"), ("cmn", "zho"), ("lvs", "lav"), ("pes", "fas"), ("zsm", "msa"), ("kzj", "dtp"),
        ("ast", "ast"), ("DE", "deu"),
    ],
)
def test_to_iso3(code: str, iso: str) -> None:
    assert to_iso3(code) == iso


@pytest.mark.parametrize("code", ["C", "POSIX", "xx", "", "locale.alias", "12"])
def test_to_iso3_rejects_non_languages(code: str) -> None:
    assert to_iso3(code) is None


def test_check_lang_accepts_any_form() -> None:
    assert check_lang("pt_BR", ["por", "deu"]) == "por"


def test_check_lang_unknown_suggests_close_codes() -> None:
    with pytest.raises(CorpusError, match=r"unknown language deux; did you mean deu"):
        check_lang("deux", ["deu", "dan", "fra"])
    with pytest.raises(CorpusError, match=r"unknown language fr \(= fra\); did you mean frr"):
        check_lang("fr", ["frr", "deu"])  # the message shows the code as given and what it maps to
    with pytest.raises(CorpusError, match=r"known: deu, fra"):
        check_lang("xx", ["fra", "deu"])


def test_pick_variant() -> None:
    assert pick_variant("zho", ["zho_Hant", "zho_Hans", "yue_Hant"]) == "zho_Hans"
    assert pick_variant("deu", ["deu_1901", "deu_1996"]) == "deu_1996"
    assert pick_variant("zho", ["cmn", "deu", "wuu", "yue"]) == "cmn"
    assert pick_variant("deu", ["deu", "deu_1901"]) == "deu"
    assert pick_variant("fra", ["deu"]) is None


def _fake_root(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_dataset_codes_come_from_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_root(
        tmp_path,
        ["tatoeba/cmn-eng.cmn.txt.gz", "tatoeba/cmn-eng.eng.txt.gz", "tatoeba/deu-eng.deu.txt.gz",
         "tatoeba/deu-eng.eng.txt.gz", "flores200/devtest/zho_Hans.txt.gz", "flores200/devtest/zho_Hant.txt.gz",
         "flores200/devtest/deu_Latn.txt.gz"],
    )
    monkeypatch.setenv("INTERLINGUA_DATA", str(tmp_path))
    assert tatoeba_code("zho") == "cmn"
    assert tatoeba_code("de") == "deu"
    assert tatoeba_code("fra") is None
    assert flores_code("deu") == "deu_Latn"
    assert flores_code("zho") == "zho_Hans"
    assert flores_code("zho_Hant") == "zho_Hant"
    assert flores_code("deu_Cyrl") is None  # a named script that is absent is not swapped for another


def test_real_dataset_codes() -> None:
    try:
        data_root()
    except CorpusError as exc:
        pytest.skip(f"shared corpora not available: {exc}")
    assert tatoeba_code("zho") == "cmn"
    assert tatoeba_code("lav") == "lvs"
    assert flores_code("deu") == "deu_Latn"
    assert flores_code("zho") == "zho_Hans"
    assert flores_code("ara") == "arb_Arab"
