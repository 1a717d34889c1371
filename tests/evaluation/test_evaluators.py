"""Evaluators by name: the registry, option checks, ``interlingua eval TASK`` choices and ``list evaluators``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlingua import registry
from interlingua.cli import build_parser, main
from interlingua.errors import ConfigError
from interlingua.evaluation.bucc import evaluate_mining
from interlingua.evaluation.report import task_title
from interlingua.evaluation.tasks import evaluate_flores, evaluate_tatoeba, evaluator


def test_registry_holds_the_tasks_with_descriptions() -> None:
    assert registry.names("evaluator") == ["align", "bleu", "bucc", "flores", "sib200", "suite", "tatoeba"]
    assert registry.get("evaluator", "tatoeba").cls is evaluate_tatoeba
    assert registry.get("evaluator", "flores").cls is evaluate_flores
    assert registry.get("evaluator", "bucc").cls is evaluate_mining
    assert "Tatoeba" in registry.get("evaluator", "tatoeba").description
    assert task_title({"task": "bucc"}) == registry.get("evaluator", "bucc").description
    assert task_title({"task": "bucc", "title": "mine"}) == "mine"


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown evaluator 'tatoba'; known: align, bleu, bucc, flores, sib200, suite, tatoeba\. Did you mean tatoeba"):
        evaluator("tatoba")


def test_an_option_the_task_does_not_take_is_refused_before_any_model_loads() -> None:
    with pytest.raises(ConfigError, match="'bucc' takes no option max_sentences; its options: n_distractors"):
        evaluator("bucc", max_sentences=10)
    evaluator("tatoeba", max_sentences=10)  # accepted


def test_cli_task_choices_come_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    task = next(a for a in sub.choices["eval"]._actions if a.dest == "task")
    assert list(task.choices) == registry.names("evaluator")
    with pytest.raises(SystemExit):
        main(["eval", "nope", "--model", "baseline:char-tfidf"])
    assert "invalid choice: 'nope' (choose from 'align', 'bleu', 'bucc', 'flores', 'sib200', 'suite', 'tatoeba')" in capsys.readouterr().err


def fake_task(embedder, langs: list[str] | None, scale: float = 1.0) -> dict:
    """Scores each language by the number of letters of its code, in the layout of a retrieval result."""
    langs = langs or ["deu"]
    per_lang = {lang: {"xx2eng": scale * len(lang), "eng2xx": 0.0, "mean": 1.0, "n": 2} for lang in langs}
    return {"task": "fake", "model": embedder.name, "pivot": "eng", "langs": per_lang,
            "average": {"xx2eng": 3.0 * scale, "eng2xx": 0.0, "mean": 1.0},
            "metrics": {f"fake/{lang}-eng/acc@1": 1.0 for lang in langs}}


def test_a_registered_task_runs_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Registering a function is all it takes: ``eval`` offers it, runs it and writes its report."""
    table = registry._REGISTRIES["evaluator"]
    monkeypatch.setitem(table, "fake", registry.Entry("fake", fake_task, None, "a fake task"))
    rc = main(["eval", "fake", "--model", "baseline:char-tfidf", "--langs", "deu,fra", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "baseline:char-tfidf" in out and "deu" in out
    result = json.loads((tmp_path / "fake-baseline_char-tfidf.json").read_text(encoding="utf-8"))
    assert list(result["langs"]) == ["deu", "fra"] and (tmp_path / "fake.png").is_file()
    assert main(["list", "evaluators"]) == 0
    assert ["fake", "a fake task"] in [line.split(None, 1) for line in capsys.readouterr().out.splitlines()]
    assert main(["eval", "fake", "--model", "baseline:char-tfidf", "--max-sentences", "3"]) == 2
    assert "'fake' takes no option max_sentences; its options: scale" in capsys.readouterr().err


def test_list_evaluators_prints_names_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "evaluators"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["align", "bleu", "bucc", "flores", "sib200", "suite", "tatoeba"]
    assert all(registry.get("evaluator", line.split()[0]).description in line for line in lines)


def test_evaluator_flags_reach_the_evaluator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``@cli_flag`` adds a flag to ``interlingua eval``; its value goes to the evaluators that take it."""
    from interlingua.evaluation.tasks import cli_flag

    seen = []

    @cli_flag("--scale", type=float, help="multiplies xx2eng")
    def scaled(embedder, langs, scale: float = 1.0) -> dict:
        seen.append(scale)
        return fake_task(embedder, langs, scale)

    monkeypatch.setitem(registry._REGISTRIES["evaluator"], "scaled", registry.Entry("scaled", scaled, None, "x"))
    assert main(["eval", "scaled", "--model", "baseline:char-tfidf", "--scale", "2.5", "--out", str(tmp_path)]) == 0
    assert main(["eval", "scaled", "--model", "baseline:char-tfidf", "--out", str(tmp_path)]) == 0
    assert seen == [2.5, 1.0]  # an unset flag leaves the evaluator's default
    assert main(["eval", "tatoeba", "--model", "baseline:char-tfidf", "--scale", "2"]) == 2  # tatoeba takes none
