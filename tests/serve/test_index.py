"""The /search index: reading sources, exact self hits, language filters, save / load and when it is rebuilt."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import interlingua
from interlingua.encoding import load_encoder
from interlingua.errors import CheckpointError, ConfigError, CorpusError
from interlingua.serve import index as index_mod
from interlingua.serve.index import Source, build, load_index, open_index, parse_source, read_sources, sidecar
from tests.serve.conftest import DEU, ENG, FRA
from tests.test_encode import make_run

MODEL = {"model": "tiny", "dim": 32}


def test_sources_plain_prefixed_and_tsv(tmp_path: Path, index_specs: list[str]) -> None:
    sentences, langs = read_sources([parse_source(s) for s in index_specs])
    assert sentences == DEU + ENG + FRA  # deu.txt's blank line and repeated first line are gone
    assert langs == ["deu"] * 5 + ["eng"] * 5 + ["fra"] * 4
    plain = tmp_path / "plain.txt"
    plain.write_text("one\ntwo\n", encoding="utf-8")
    assert parse_source(str(plain)) == Source(plain, None)
    with pytest.raises(CorpusError, match="no file"):
        parse_source(f"deu:{tmp_path / 'missing.txt'}")
    bad = tmp_path / "bad.tsv"
    bad.write_text("eng\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad.tsv:2: expected lang<TAB>sentence"):
        read_sources([parse_source(str(bad))])
    with pytest.raises(ConfigError, match="drop the 'eng:' prefix"):
        parse_source(f"eng:{bad}")


def test_search_scores_are_cosines_and_languages_filter(run_dir: Path, index_specs: list[str]) -> None:
    enc = load_encoder(run_dir, quantize=False)
    idx = build(enc, MODEL, [parse_source(s) for s in index_specs])
    query = interlingua.encode(enc, ["la maison rouge"])[0]
    hits = idx.search(query, 4)
    assert hits[0].sentence == "la maison rouge" and hits[0].lang == "fra"
    every = interlingua.encode(enc, idx.sentences)
    cos = every @ query
    assert [h.id for h in hits] == list(np.argsort(-cos)[:4])
    np.testing.assert_allclose([h.score for h in hits], np.sort(cos)[::-1][:4], atol=1e-5)
    deu = idx.search(query, 10, ["deu"])
    assert len(deu) == 5 and {h.lang for h in deu} == {"deu"}
    with pytest.raises(ConfigError, match="spa is not in the index"):
        idx.search(query, 3, ["spa"])


def test_saved_index_is_reused_until_model_or_sources_change(run_dir: Path, index_specs: list[str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    enc = load_encoder(run_dir, quantize=False)
    path = tmp_path / "saved" / "index.faiss"
    first = open_index(enc, MODEL, index_specs, str(path))
    assert path.is_file() and json.loads(sidecar(path).read_text(encoding="utf-8"))["sentences"] == first.sentences
    assert not list(path.parent.glob("*.tmp"))
    builds = []
    monkeypatch.setattr(index_mod, "build", lambda *a, **k: builds.append(a) or first)
    again = open_index(enc, MODEL, index_specs, str(path))
    assert builds == [] and again.sentences == first.sentences and again.langs == first.langs
    np.testing.assert_array_equal(again.index.reconstruct_n(0, 14), first.index.reconstruct_n(0, 14))
    open_index(enc, {**MODEL, "dim": 64}, index_specs, str(path))  # another model: rebuilt
    tsv = Path(index_specs[1])
    os.utime(tsv, ns=(tsv.stat().st_atime_ns, tsv.stat().st_mtime_ns + 10**9))  # a source changed: rebuilt
    open_index(enc, MODEL, index_specs, str(path))
    assert len(builds) == 2


def test_a_damaged_or_foreign_index_file_is_refused(run_dir: Path, index_specs: list[str], tmp_path: Path) -> None:
    enc = load_encoder(run_dir, quantize=False)
    path = tmp_path / "index.faiss"
    open_index(enc, MODEL, index_specs, str(path))
    assert open_index(enc, MODEL, [], str(path)).sentences[:2] == DEU[:2]  # loaded alone
    with pytest.raises(ConfigError, match="was built with"):
        open_index(enc, {"model": "other"}, [], str(path))
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\xff\xff")
    with pytest.raises(CheckpointError, match="checksum"):
        load_index(path)
    rebuilt = open_index(enc, MODEL, index_specs, str(path))  # with sources, a damaged file is rebuilt
    assert load_index(path).sentences == rebuilt.sentences
    with pytest.raises(CheckpointError, match="needs both"):
        load_index(tmp_path / "absent.faiss")


def test_language_embeddings_need_a_language_per_sentence(tmp_path: Path) -> None:
    enc = load_encoder(make_run(tmp_path / "langs", lang_embeddings=True), quantize=False)
    plain = tmp_path / "plain.txt"
    plain.write_text("der hund\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="language embeddings"):
        build(enc, MODEL, [parse_source(str(plain))])
    idx = build(enc, MODEL, [parse_source(f"deu:{plain}"), parse_source(f"eng:{plain}")])
    # the same words embedded with another language row are another vector
    v = idx.index.reconstruct_n(0, 2)
    assert not np.allclose(v[0], v[1], atol=1e-3)
    np.testing.assert_allclose(v[0], interlingua.encode(enc, ["der hund"], lang="deu")[0], atol=1e-5)
