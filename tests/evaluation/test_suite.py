"""The evaluation suite: every part runs, the headline repeats the parts' figures, inapplicable parts are skipped,
and report.html is one self-contained page."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from interlingua.cli import main
from interlingua.errors import ConfigError
from interlingua.evaluation.align import alignment_examples
from interlingua.evaluation.embedders import CharTfidfEmbedder, get_embedder
from interlingua.evaluation.html_report import _bars, headline_table, render
from interlingua.evaluation.suite import QUICK, SuitePlan, format_suite_table, run_plan
from interlingua.evaluation.word_alignment import GoldPair
from tests.evaluation.test_alignment import char_encoder
from tests.test_encode import make_run

TINY = SuitePlan(tatoeba=("deu",), flores=("deu",), bucc=("deu",), sib200=("deu",), max_sentences=20,
                 n_distractors=20, align_layer="all", align_examples=2)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("suite") / "run", max_positions=64)


@pytest.fixture(scope="module")
def result(run_dir: Path) -> dict:
    return run_plan(get_embedder(str(run_dir)), TINY, progress=False)


def test_every_part_runs_and_the_headline_repeats_its_figures(result: dict) -> None:
    parts = result["parts"]
    assert list(parts) == ["tatoeba", "flores", "bucc", "sib200", "align"] and result["skipped"] == {}
    assert parts["tatoeba"]["langs"]["deu"]["n"] == 20 and list(parts["sib200"]["langs"]) == ["deu_Latn"]
    head = {k: v["value"] for k, v in result["headline"].items()}
    assert head["tatoeba/average/acc@1"] == parts["tatoeba"]["average"]["mean"]
    assert head["sib200/average/acc"] == parts["sib200"]["average"]["accuracy"]
    assert head["bucc/average/best_f1"] == parts["bucc"]["average"]["best_f1"]
    assert head["align/ron-eng/aer"] == parts["align"]["langs"]["ron-eng"]["aer"]
    assert result["headline"]["align/eng-fra/aer"]["higher_is_better"] is False
    assert sorted(parts["align"]["by_layer"]) == ["0", "1", "2"]
    assert result["metrics"]["flores/average/acc@1"] == parts["flores"]["average"]["mean"]
    for example in parts["align"]["examples"]["eng-fra"]:
        assert np.asarray(example["similarity"]).shape == (len(example["src"]), len(example["tgt"]))
    assert len(parts["align"]["examples"]["eng-fra"]) == 2


def test_char_tfidf_skips_alignment_and_mining() -> None:
    plan = SuitePlan(tatoeba=("deu",), flores=("deu",), bucc=("deu",), sib200=("deu",), max_sentences=20,
                     n_distractors=20, align_layer=None)
    result = run_plan(CharTfidfEmbedder(), plan, progress=False)
    assert list(result["parts"]) == ["tatoeba", "flores", "sib200"]
    assert "hidden states" in result["skipped"]["align"] and "dense vectors" in result["skipped"]["bucc"]
    assert not any(k.startswith("align/") for k in result["headline"])
    assert "align skipped" in format_suite_table([result])


def test_langs_replace_the_plans_languages_and_bucc_takes_three() -> None:
    plan = QUICK.with_langs(["fra", "deu", "rus", "zho"])
    assert plan.tatoeba == plan.flores == plan.sib200 == ("fra", "deu", "rus", "zho") and plan.bucc == ("fra", "deu", "rus")
    assert plan.max_sentences == QUICK.max_sentences


def test_alignment_examples_of_a_sentence_with_itself() -> None:
    """Identical sides give identical vectors: the word-level cosine (best over a word's characters) is 1 on the
    diagonal and argmax links every word to itself."""
    words = "abc de fgh".split()
    pair = GoldPair(words, words, frozenset({(0, 0), (1, 1)}), frozenset({(0, 0), (1, 1), (2, 2)}))
    [example] = alignment_examples(char_encoder(), [pair], (None, None), layer=1, method="argmax")
    sim = np.asarray(example["similarity"])
    assert np.allclose(np.diag(sim), 1.0, atol=1e-3) and sim.shape == (3, 3)
    assert example["links"] == [[0, 0], [1, 1], [2, 2]]
    assert example["sure"] == [[0, 0], [1, 1]] and example["possible"] == [[2, 2]]


def _fake(model: str, acc: float, aer: float) -> dict:
    return {"model": model, "headline": {"t": {"label": "acc", "value": acc, "higher_is_better": True},
                                         "a": {"label": "AER", "value": aer, "higher_is_better": False}}}


def test_the_best_figure_of_a_row_is_bold_in_its_direction() -> None:
    table = headline_table([_fake("m1", 50.0, 30.0), _fake("m2", 60.0, 40.0)])
    assert "<b>60.00</b>" in table and "<b>30.00</b>" in table and "<b>50.00</b>" not in table


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images, self.external = [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "src" and tag == "img":
                self.images.append(value)
            elif name in ("src", "href"):
                self.external.append(value)


def test_the_report_is_one_self_contained_page(result: dict) -> None:
    page = render([result, {**result, "model": "copy"}])
    parser = _Sources()
    parser.feed(page)
    # per-part bars (5), the layer sweep, 2 heatmaps for each of the 2 sets and each of the 2 models
    assert len(parser.images) == 5 + 1 + 2 * 2 * 2
    assert all(src.startswith("data:image/png;base64,") for src in parser.images) and parser.external == []
    assert "<script" not in page and page.count("<table>") >= 3


def test_many_languages_are_charted_thirty_a_row() -> None:
    langs = {f"l{k:03d}": {"mean": float(k), "n": 1} for k in range(70)}
    part = {"task": "tatoeba", "model": "m", "langs": langs, "average": {"mean": 34.5}}
    assert _bars([part]).count("<img") == 3 and _bars([{**part, "langs": dict(list(langs.items())[:40])}]).count("<img") == 1


def test_names_are_escaped_in_the_report(result: dict) -> None:
    page = render([{**result, "model": "<i>m&1</i>"}])
    assert "<i>m&1</i>" not in page and "&lt;i&gt;m&amp;1&lt;/i&gt;" in page


def test_a_failing_part_is_recorded_and_the_rest_still_runs(run_dir: Path) -> None:
    plan = SuitePlan(tatoeba=("deu",), flores=("deu",), bucc=("deu",), sib200=("xyz",), max_sentences=10,
                     n_distractors=10, align_layer=None)
    result = run_plan(get_embedder(str(run_dir)), plan, progress=False)
    assert "no dev split for language 'xyz'" in result["failed"]["sib200"]
    assert list(result["parts"]) == ["tatoeba", "flores", "bucc", "align"]
    with pytest.raises(ConfigError, match="xyz"):
        run_plan(get_embedder(str(run_dir)), plan, progress=False, strict=True)


def test_cli_suite_writes_json_and_report(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["eval", "suite", "--model", str(run_dir), "--model", "baseline:char-tfidf", "--quick",
                 "--langs", "deu", "--max-sentences", "10", "--out", str(out)]) == 0
    saved = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    assert [r["model"] for r in saved["models"]] == ["run", "baseline:char-tfidf"]
    assert saved["models"][0]["plan"]["max_sentences"] == 10 and saved["models"][0]["quick"] is True
    assert (out / "report.html").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Tatoeba acc@1 (%)" in printed and "report.html" in printed
