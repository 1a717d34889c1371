"""sentence-transformers export: ``SentenceTransformer`` loads the folder and gives ``interlingua.encode``'s vectors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import interlingua
from interlingua.errors import ConfigError, OutputError
from interlingua.io_safety import EXPORT_MARKER
from interlingua.models.st_export import export_sentence_transformers
from tests.test_encode import SENTENCES, make_run

st = pytest.importorskip("sentence_transformers", reason="pip install sentence-transformers==6.2.0")

TOL = 1e-5


def st_vectors(folder: Path) -> np.ndarray:
    return st.SentenceTransformer(str(folder), device="cpu").encode(SENTENCES, batch_size=3)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_export_loads_in_sentence_transformers_with_same_vectors(pooling: str, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", pooling=pooling)
    out = export_sentence_transformers(run, tmp_path / "st")

    pool_cfg = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pool_cfg["pooling_mode_mean_tokens"] == (pooling == "mean")
    assert pool_cfg["pooling_mode_cls_token"] == (pooling == "cls")
    assert [m["path"] for m in json.loads((out / "modules.json").read_text())] == ["", "1_Pooling", "2_Normalize"]

    ours = interlingua.encode(run, SENTENCES, quantize=False)
    theirs = st_vectors(out)
    assert theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() <= TOL
    # interlingua reads the export back with the same pooling: one more route to the same numbers.
    assert np.abs(interlingua.encode(out, SENTENCES, quantize=False) - ours).max() <= TOL


def test_language_is_fixed_at_export(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", lang_embeddings=True)
    with pytest.raises(ConfigError, match="--lang"):
        export_sentence_transformers(run, tmp_path / "st")
    out = export_sentence_transformers(run, tmp_path / "st", lang="fra")
    ours = interlingua.encode(run, SENTENCES, lang="fra", quantize=False)
    assert np.abs(st_vectors(out) - ours).max() <= TOL


def test_prefix_becomes_the_default_prompt(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    out = export_sentence_transformers(run, tmp_path / "st", prefix="the ")
    assert json.loads((out / "config_sentence_transformers.json").read_text())["default_prompt_name"] == "query"
    ours = interlingua.encode(run, SENTENCES, prefix="the ", quantize=False)
    assert np.abs(st_vectors(out) - ours).max() <= TOL


def test_export_replaces_an_export_but_not_other_folders(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    out = export_sentence_transformers(run, tmp_path / "st")
    export_sentence_transformers(run, out, pooling="cls")  # an earlier export is replaced
    assert json.loads((out / "1_Pooling" / "config.json").read_text())["pooling_mode_cls_token"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="Refusing"):
        export_sentence_transformers(run, other)
    assert (other / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "run", "st"]  # no staging folder left behind


def test_export_into_a_user_folder_needs_force_and_keeps_user_files(tmp_path: Path) -> None:
    """Issue 6: a folder holding modules.json was replaced whole; notes, weights and sub-folders were lost."""
    run = make_run(tmp_path / "run")
    out = tmp_path / "theirs"
    (out / "1_Pooling").mkdir(parents=True)
    (out / "modules.json").write_text("[]")
    (out / "notes.txt").write_text("keep me")
    (out / "pytorch_model.bin").write_bytes(b"their weights")
    (out / "1_Pooling" / "extra.txt").write_text("keep me too")
    with pytest.raises(OutputError, match=r"theirs is not empty.*modules\.json.*notes\.txt.*--force"):
        export_sentence_transformers(run, out)
    assert (out / "modules.json").read_text() == "[]"

    export_sentence_transformers(run, out, force=True)
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "pytorch_model.bin").read_bytes() == b"their weights"
    assert (out / "1_Pooling" / "extra.txt").read_text() == "keep me too"
    assert (out / "2_Normalize").is_dir() and (out / EXPORT_MARKER).is_file()
    assert np.abs(st_vectors(out) - interlingua.encode(run, SENTENCES, quantize=False)).max() <= TOL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "theirs"]  # no staging folder left behind
