"""SIB-200 topic classification: reader, language codes, the probe, fine-tuning a copy, ``interlingua eval sib200``.

Everything runs on a toy SIB folder written in tmp: seven labels, each decided by one keyword that every
language shares (``cat`` = entertainment, ...), around fillers of the language's own; the run model is
``tests.test_encode.make_run``'s tiny encoder, whose word-level vocabulary holds the keywords.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interlingua.cli import main
from interlingua.encoding import load_encoder
from interlingua.errors import ConfigError, CorpusError
from interlingua.evaluation.sib200 import C_GRID, LABELS, evaluate_sib200, fit_probe, read_sib, resolve_langs
from interlingua.evaluation.sib200_finetune import FinetuneConfig, finetune
from tests.test_encode import make_run

KEYWORD = dict(zip(LABELS, "cat dog house red blue big small".split()))
FILLERS = {"eng_Latn": "the a runs sleeps", "deu_Latn": "der die das katze", "fra_Latn": "le la chat chien"}


def write_split(root: Path, code: str, split: str, rows: list[tuple[str, str]], header: str = "index_id\tcategory\ttext") -> Path:
    path = root / code / f"{split}.tsv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{i}\t{label}\t{text}" for i, (label, text) in enumerate(rows)]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def toy_rows(code: str, per_label: int, seed: int) -> list[tuple[str, str]]:
    """``per_label`` rows per label: the label's keyword among two or three fillers, shuffled."""
    rng = np.random.default_rng(seed)
    fillers = FILLERS[code].split()
    rows = []
    for _ in range(per_label):
        for label, word in KEYWORD.items():
            words = [word, *rng.choice(fillers, size=rng.integers(2, 4))]
            rows.append((label, " ".join(rng.permutation(words))))
    return [rows[i] for i in rng.permutation(len(rows))]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sib")
    write_split(root, "eng_Latn", "train", toy_rows("eng_Latn", 4, seed=0))
    for k, code in enumerate(FILLERS):
        write_split(root, code, "dev", toy_rows(code, 2, seed=1 + k))
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("sib_run") / "run")


class KeywordEmbedder:
    """One-hot of the label keyword in the sentence: linearly separable by construction."""

    name = "keyword"

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        words = list(KEYWORD.values())
        return np.array([[float(w in s.split()) for w in words] for s in sentences], dtype=np.float32)


def test_read_sib_keeps_order_labels_and_ids(toy: Path) -> None:
    split = read_sib(toy / "deu_Latn" / "dev.tsv.gz")
    assert split.lang == "deu_Latn" and len(split.texts) == 14 and split.ids[:2] == ["0", "1"]
    for text, label in zip(split.texts, split.labels):
        assert KEYWORD[LABELS[label]] in text.split()


def test_reader_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad_header = write_split(tmp_path, "xxx_Latn", "dev", [("travel", "a")], header="id\tlabel\ttext")
    with pytest.raises(CorpusError, match=rf"{bad_header}:1: header is 'id<TAB>label<TAB>text', expected index_id"):
        read_sib(bad_header)
    bad_label = write_split(tmp_path, "yyy_Latn", "dev", [("travel", "a"), ("sport", "b")])
    with pytest.raises(CorpusError, match=rf"{bad_label}:3: unknown category 'sport'; SIB-200's are entertainment"):
        read_sib(bad_label)
    short = write_split(tmp_path, "zzz_Latn", "dev", [("travel", "a\tb")])
    with pytest.raises(CorpusError, match=rf"{short}:2: 4 tab-separated fields, expected 3"):
        read_sib(short)


def test_languages_resolve_as_flores_does(tmp_path: Path) -> None:
    for code in ("deu_Latn", "zho_Hans", "zho_Hant", "arb_Arab", "arb_Latn"):
        write_split(tmp_path, code, "dev", [("travel", "x")])
    write_split(tmp_path, "fra_Latn", "train", [("travel", "x")])  # no dev: not a dev language
    assert resolve_langs(None, tmp_path, "dev") == ["arb_Arab", "arb_Latn", "deu_Latn", "zho_Hans", "zho_Hant"]
    assert resolve_langs(["deu", "zho", "ara", "zho_Hant", "deu_Latn"], tmp_path, "dev") == [
        "deu_Latn", "zho_Hans", "arb_Arab", "zho_Hant"]
    with pytest.raises(ConfigError, match="no dev split for language 'deu_Cyrl'.*did you mean deu_Latn"):
        resolve_langs(["deu_Cyrl"], tmp_path, "dev")
    with pytest.raises(ConfigError, match="no dev split for language 'fra'"):
        resolve_langs(["fra"], tmp_path, "dev")


def test_fit_probe_takes_the_smallest_c_among_ties() -> None:
    """One-hot features, one row per class: every C of the grid separates them, so the first (smallest) wins."""
    x, y = np.eye(7, dtype=np.float32), np.arange(7)
    clf, c, acc = fit_probe(x, y, x, y)
    assert (c, acc) == (C_GRID[0], 100.0) and (clf.predict(x) == y).all()


@pytest.mark.parametrize("embedder", [KeywordEmbedder(), "baseline:char-tfidf"])
def test_probe_reaches_100_on_the_separable_toy(toy: Path, embedder: object) -> None:
    from interlingua.evaluation.embedders import get_embedder

    embedder = get_embedder(embedder) if isinstance(embedder, str) else embedder
    r = evaluate_sib200(embedder, None, data=str(toy), progress=False)
    assert r["langs"] == {code: {"accuracy": 100.0, "n": 14} for code in ("deu_Latn", "eng_Latn", "fra_Latn")}
    assert r["average"] == {"accuracy": 100.0} and r["metrics"]["sib200/average/acc"] == 100.0
    assert r["mode"] == "probe" and r["selection"]["eng_dev_accuracy"] == 100.0 and r["selection"]["C"] in C_GRID


def test_fit_is_called_once_with_english_train(toy: Path) -> None:
    """A corpus-fitted embedder sees English train only, so its features mean the same in every language."""

    class Recording(KeywordEmbedder):
        fits: list[list[str]] = []

        def fit(self, corpus: list[str]) -> None:
            self.fits.append(corpus)

    evaluate_sib200(Recording(), ["deu"], data=str(toy), progress=False)
    assert Recording.fits == [read_sib(toy / "eng_Latn" / "train.tsv.gz").texts]


def test_cli_probe_prints_the_table_and_writes_json_and_png(toy: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "sib200", "--model", "baseline:char-tfidf", "--data", str(toy), "--split", "dev", "--probe",
               "--langs", "deu,fra_Latn", "--out", str(tmp_path)])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["lang", "n", "|", "acc"]
    assert [line.split() for line in lines[3:5]] == [["deu_Latn", "14", "|", "100.00"], ["fra_Latn", "14", "|", "100.00"]]
    assert lines[-2].split() == ["average", "|", "100.00"]
    result = json.loads((tmp_path / "sib200-baseline_char-tfidf.json").read_text(encoding="utf-8"))
    assert result["split"] == "dev" and list(result["langs"]) == ["deu_Latn", "fra_Latn"]
    assert (tmp_path / "sib200.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "sib200", "--model", "baseline:char-tfidf", "--data", str(toy), "--finetune"]) == 2
    assert "needs a transformer encoder" in capsys.readouterr().err
    assert main(["eval", "sib200", "--model", "baseline:char-tfidf", "--data", str(toy), "--split", "test"]) == 2
    assert "no <lang_Script>/test.tsv.gz under" in capsys.readouterr().err
    assert main(["eval", "sib200", "--model", "baseline:char-tfidf", "--data", str(toy), "--steps", "5"]) == 2
    assert "sib200: the fine-tuning options --steps need --finetune" in capsys.readouterr().err
    assert main(["eval", "tatoeba", "--model", "baseline:char-tfidf", "--finetune"]) == 2  # not tatoeba's flag


def test_finetune_trains_a_copy_and_leaves_the_cached_encoder_alone(toy: Path, run_dir: Path) -> None:
    enc = load_encoder(run_dir, quantize=False)
    before = {k: v.clone() for k, v in enc.module.state_dict().items()}
    train, dev = read_sib(toy / "eng_Latn" / "train.tsv.gz"), read_sib(toy / "eng_Latn" / "dev.tsv.gz")
    done = finetune(enc.bind(), train.texts, train.labels, dev.texts, dev.labels, len(LABELS),
                    FinetuneConfig(steps=4, eval_every=2, lr=1e-3))
    assert [step for step, _ in done.history] == [2, 4] and done.step in (2, 4)
    assert done.model.body is not enc.module
    trained = done.model.body.state_dict()
    assert any(not torch.equal(trained[k], v) for k, v in before.items())  # the copy learnt
    assert load_encoder(run_dir, quantize=False) is enc  # still the cached one ...
    assert all(torch.equal(enc.module.state_dict()[k], v) for k, v in before.items())  # ... and unchanged
    assert not enc.module.training


def test_finetune_refuses_int8(toy: Path, run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="int8-quantised"):
        evaluate_sib200(load_encoder(run_dir, quantize=True), None, data=str(toy), finetune=True, progress=False)


def test_cli_finetune_learns_the_toy(toy: Path, run_dir: Path, tmp_path: Path) -> None:
    """The keywords are shared tokens, so what is learnt on English transfers to every toy language."""
    rc = main(["eval", "sib200", "--model", str(run_dir), "--data", str(toy), "--finetune", "--steps", "60",
               "--eval-every", "20", "--lr", "3e-3", "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "sib200-run_finetune.json").read_text(encoding="utf-8"))
    assert result["mode"] == "finetune" and result["model"] == "run+finetune"
    assert [step for step, _ in result["selection"]["history"]] == [20, 40, 60]
    assert result["average"]["accuracy"] > 100 / 7 * 3  # chance is 14%
    assert main(["eval", "sib200", "--model", str(run_dir), "--data", str(toy), "--finetune", "--steps", "0"]) == 2
