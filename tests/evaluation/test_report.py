"""Reports: the monospace table, JSON output, and the two PNG plots."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlingua.errors import InterlinguaError
from interlingua.evaluation.report import (
    format_table,
    plot_loss_curves,
    plot_per_language,
    read_loss_curves,
    write_json,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result(model: str, scores: dict[str, float]) -> dict:
    langs = {lang: {"xx2eng": s, "eng2xx": s - 2.0, "mean": s - 1.0, "n": 1000} for lang, s in scores.items()}
    mean = sum(scores.values()) / len(scores)
    return {
        "task": "tatoeba",
        "model": model,
        "pivot": "eng",
        "langs": langs,
        "average": {"xx2eng": mean, "eng2xx": mean - 2.0, "mean": mean - 1.0},
        "metrics": {f"tatoeba/{lang}-eng/acc@1": v["mean"] for lang, v in langs.items()},
    }


RESULTS = [_result("baseline:char-tfidf", {"deu": 25.0, "fra": 30.0}), _result("runs/xlm", {"deu": 90.5})]


def test_table_has_language_rows_and_average() -> None:
    table = format_table(RESULTS)
    lines = table.splitlines()
    assert "baseline:char-tfidf" in lines[0] and "runs/xlm" in lines[0]
    rows = {line.split()[0]: line for line in lines[2:] if line and not line.startswith("-")}
    assert set(rows) == {"deu", "fra", "average"}
    assert rows["deu"].split() == ["deu", "1000", "|", "25.00", "23.00", "24.00", "|", "90.50", "88.50", "89.50"]
    assert rows["fra"].split()[-3:] == ["-", "-", "-"]  # the second model has no fra
    assert rows["average"].split()[1:5] == ["|", "27.50", "25.50", "26.50"]
    assert len({len(line) for line in lines[1:]}) == 1  # every row lines up


def test_long_model_names_are_not_cut() -> None:
    """Issue 6: the demo's header read '…ingua demo (400 steps)'; groups now widen to the name."""
    long = {**RESULTS[1], "model": "interlingua demo: me5-small + translation_ranking (250 steps)"}
    lines = format_table([RESULTS[0], long]).splitlines()
    assert long["model"] in lines[0] and "…" not in lines[0]
    assert len({len(line) for line in lines[1:]}) == 1
    rows = {line.split()[0]: line.split() for line in lines[2:] if line and not line.startswith("-")}
    assert rows["deu"][-3:] == ["90.50", "88.50", "89.50"]


def test_table_and_plot_follow_the_results_columns(tmp_path: Path) -> None:
    """A result may name its own columns and plotted score (bucc does); mixing layouts is an error."""
    mined = {"task": "bucc", "model": "m", "pivot": "eng", "columns": [["f1", "F1"], ["best_f1", "best F1"]],
             "score": ["best_f1", "F1 (%)"], "langs": {"deu": {"f1": 80.0, "best_f1": 95.5, "n": 1012}},
             "average": {"f1": 80.0, "best_f1": 95.5}}
    lines = format_table([mined]).splitlines()
    assert lines[1].split() == ["lang", "n", "|", "F1", "best", "F1"]
    assert lines[3].split() == ["deu", "1012", "|", "80.00", "95.50"]
    assert plot_per_language([mined], tmp_path / "bucc.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(InterlinguaError, match="columns differ"):
        format_table([mined, RESULTS[0]])


def test_write_json_round_trips(tmp_path: Path) -> None:
    path = write_json(RESULTS[0], tmp_path / "sub" / "tatoeba.json")
    assert json.loads(path.read_text(encoding="utf-8")) == RESULTS[0]


def test_per_language_plot_is_a_png(tmp_path: Path) -> None:
    path = plot_per_language(RESULTS, tmp_path / "plots" / "tatoeba.png")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


def _write_metrics(path: Path) -> Path:
    records = [
        {"step": s, "train/mlm/loss": 5.0 / (s + 1), "train/tlm/loss": 6.0 / (s + 1), "train/lr": 4e-4}
        for s in range(0, 50, 10)
    ]
    records.append({"step": 50, "eval/tatoeba/average/acc@1": 12.0})
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    return path


def test_loss_curves_read_only_train_losses(tmp_path: Path) -> None:
    curves = read_loss_curves(_write_metrics(tmp_path / "metrics.jsonl"))
    assert sorted(curves) == ["train/mlm/loss", "train/tlm/loss"]
    steps, values = curves["train/mlm/loss"]
    assert steps == [0, 10, 20, 30, 40] and values[0] == 5.0


@pytest.mark.parametrize("log_y", [False, True])
def test_loss_curve_plot_is_a_png(tmp_path: Path, log_y: bool) -> None:
    path = plot_loss_curves(_write_metrics(tmp_path / "metrics.jsonl"), tmp_path / "loss.png", log_y=log_y)
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


def test_loss_curves_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "train/mlm/loss": 2.0}\n{"step": 2,\n', encoding="utf-8")
    with pytest.raises(InterlinguaError, match="bad.jsonl:2"):
        read_loss_curves(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"step": 1, "train/lr": 0.1}\n', encoding="utf-8")
    with pytest.raises(InterlinguaError, match="no train/"):
        plot_loss_curves(empty, tmp_path / "x.png")
