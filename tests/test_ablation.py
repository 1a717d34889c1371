"""``interlingua ablate``: variants from one recipe, seeds, mean / spread tables, resume, and plan checks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from statistics import fmean, stdev

import pytest

from interlingua import ablation
from interlingua.ablation import AblationPlan, parse_variant, run_ablation
from interlingua.cli import main
from interlingua.config import load_config
from interlingua.errors import ConfigError
from interlingua.evaluation.suite import SuitePlan
from interlingua.training.run import train
from tests.test_end_to_end import DE, EN, TINY

PLAN = SuitePlan(tatoeba=("deu",), flores=("deu",), bucc=("deu",), sib200=("deu",), max_sentences=20,
                 n_distractors=20, align_layer=None, align_examples=1)


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "en.txt").write_text("\n".join(EN * 3) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(DE * 3) + "\n", encoding="utf-8")
    path = tmp_path / "tiny.yaml"
    path.write_text(f"name: tiny\ndata: {{corpus: files, files: ['deu={tmp_path / 'en.txt'},{tmp_path / 'de.txt'}']}}\n"
                    "train: {steps: 4, ckpt_every: 2, max_minutes: 5}\nobjectives: {mlm: {}, tlm: {}}\n",
                    encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def tiny_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ablation, "_suite_plan", lambda plan: PLAN)


def _plan(recipe: Path, seeds: list[int], variants: dict[str, list[str]] | None = None) -> AblationPlan:
    return AblationPlan(str(recipe), list(TINY), variants or {"mlm": ["objectives={mlm: {}}"],
                                                             "tlm-lr": ["objectives={tlm: {}}", "train.lr=1e-3"]},
                        seeds, quick=True)


def test_variants_by_seeds_give_mean_and_spread(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "ab"
    summary = run_ablation(_plan(recipe, [0, 1]), out)
    cells = {(v, s): json.loads((out / v / f"seed{s}" / "cell.json").read_text()) for v in ("mlm", "tlm-lr")
             for s in (0, 1)}
    key = "tatoeba/average/acc@1"
    for v in ("mlm", "tlm-lr"):
        values = [cells[v, s]["headline"][key]["value"] for s in (0, 1)]
        row = summary["variants"][v][key]
        assert row["mean"] == fmean(values) and row["std"] == stdev(values) and row["n"] == 2
    config = json.loads((out / "tlm-lr" / "seed1" / "interlingua.json").read_text())["config"]
    assert config["train"]["lr"] == 1e-3 and list(config["objectives"]) == ["tlm"] and config["train"]["seed"] == 1
    assert config["train"]["max_minutes"] == 0 and config["name"] == "tlm-lr"
    table = (out / "ablation.md").read_text()
    assert "| mlm |" in table and "±" in table and "seeds 0, 1" in table and "start" not in table.split("\n")[2]
    assert (out / "ablation.png").stat().st_size > 0 and (out / "report.html").stat().st_size > 0
    saved = json.loads((out / "ablation.json").read_text())
    assert saved["plan"]["variants"]["tlm-lr"] == ["objectives={tlm: {}}", "train.lr=1e-3"]
    last = json.loads((out / "mlm/seed1/metrics.jsonl").read_text().splitlines()[-1])["time_s"]
    assert saved["cells"]["mlm"]["1"]["train_seconds"] == round(last, 1)


def test_a_killed_ablation_resumes_and_matches_an_uninterrupted_one(recipe: Path, tmp_path: Path) -> None:
    plan = _plan(recipe, [0], {"mlm": ["objectives={mlm: {}}"]})
    whole = run_ablation(plan, tmp_path / "whole")
    # Killed after step 2 of the only cell: a checkpoint at step 2, no cell.json.
    cell = tmp_path / "cut" / "mlm" / "seed0"
    train(load_config(plan.recipe, plan.cell_overrides("mlm", 0)), cell, stop_at=2)
    (cell / "model.safetensors").unlink()
    resumed = run_ablation(plan, tmp_path / "cut")
    assert resumed["variants"] == whole["variants"]
    assert (cell / "model.safetensors").read_bytes() == (tmp_path / "whole/mlm/seed0/model.safetensors").read_bytes()
    rows = [json.loads(line)["step"] for line in (cell / "metrics.jsonl").read_text().splitlines()]
    assert rows == sorted(set(rows)) and rows[-1] == 4
    # Done cells are read back, not retrained: adding a seed trains only the new one.
    stamp = (cell / "cell.json").stat().st_mtime_ns
    more = run_ablation(_plan(recipe, [0, 1], {"mlm": ["objectives={mlm: {}}"]}), tmp_path / "cut")
    assert (cell / "cell.json").stat().st_mtime_ns == stamp
    assert more["variants"]["mlm"]["tatoeba/average/acc@1"]["n"] == 2
    assert json.loads((tmp_path / "cut" / "plan.json").read_text())["seeds"] == [0, 1]
    # A later call with fewer seeds still tabulates every evaluated cell of the folder.
    fewer = run_ablation(_plan(recipe, [1], {"mlm": ["objectives={mlm: {}}"]}), tmp_path / "cut")
    assert fewer["variants"]["mlm"]["tatoeba/average/acc@1"]["n"] == 2


def test_a_trained_cell_is_not_trained_again(recipe: Path, tmp_path: Path) -> None:
    """Without its checkpoints (deleted to free disk) and without its result, a finished cell is only evaluated."""
    plan = _plan(recipe, [0], {"mlm": ["objectives={mlm: {}}"]})
    run_ablation(plan, tmp_path / "ab")
    cell = tmp_path / "ab" / "mlm" / "seed0"
    weights = (cell / "model.safetensors").stat().st_mtime_ns
    shutil.rmtree(cell / "checkpoints")
    (cell / "cell.json").unlink()
    run_ablation(plan, tmp_path / "ab")
    assert (cell / "model.safetensors").stat().st_mtime_ns == weights and (cell / "cell.json").exists()
    (cell / "cell.json").write_text('{"task": "suite", "models": []}', encoding="utf-8")  # as `eval suite` writes
    with pytest.raises(ConfigError, match="cell.json is not an ablation cell"):
        run_ablation(plan, tmp_path / "ab")


def test_a_plan_that_contradicts_the_folder_is_refused(recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "ab"
    run_ablation(_plan(recipe, [0], {"mlm": ["objectives={mlm: {}}"]}), out)
    other = _plan(recipe, [0], {"mlm": ["objectives={mlm: {}}"]})
    other.overrides = [*other.overrides, "train.lr=5e-3"]
    with pytest.raises(ConfigError, match="resolve to another config"):
        run_ablation(other, out)
    with pytest.raises(ConfigError, match="variant 'mlm' was .* has cells already"):
        run_ablation(_plan(recipe, [0], {"mlm": ["objectives={tlm: {}}"]}), out)
    plan = json.loads((out / "plan.json").read_text())
    plan["variants"]["typo"] = ["objectives={nope: {}}"]  # recorded by a call that failed before its first cell
    (out / "plan.json").write_text(json.dumps(plan))
    run_ablation(_plan(recipe, [0], {"typo": ["objectives={tlm: {}}"]}), out)  # no cells yet: may be redefined
    assert json.loads((out / "plan.json").read_text())["variants"]["typo"] == ["objectives={tlm: {}}"]
    with pytest.raises(ConfigError, match="share one step budget"):
        run_ablation(_plan(recipe, [0], {"long": ["objectives={mlm: {}}", "train.steps=8"]}), out)


def test_variant_specs(recipe: Path) -> None:
    assert parse_variant("mlm", str(recipe)) == ("mlm", ['objectives={"mlm": {}}'])
    name, overrides = parse_variant("translation_ranking", "ablate-cpu")
    assert load_config("ablate-cpu", overrides).objectives["translation_ranking"].pooling == "mean"
    assert list(load_config("ablate-cpu", parse_variant("tlm", "ablate-cpu")[1]).objectives) == ["tlm"]
    both = load_config("ablate-cpu", parse_variant("translation_ranking+clwa", "ablate-cpu")[1]).objectives
    assert list(both) == ["translation_ranking", "clwa"] and both["translation_ranking"].pooling == "mean"
    with pytest.raises(ConfigError, match="'nope' is not an objective"):
        parse_variant("mlm+nope", str(recipe))
    assert parse_variant("fast=train.lr=1e-3; train.steps=5", "x") == ("fast", ["train.lr=1e-3", "train.steps=5"])
    assert parse_variant("as-is=", "x") == ("as-is", [])
    with pytest.raises(ConfigError, match="not an objective"):
        parse_variant("nope", str(recipe))
    for bad in ("../x=a.b=1", "start=", "a b=", "x|y="):
        with pytest.raises(ConfigError, match="letters, digits"):
            parse_variant(bad, str(recipe))


def test_cli(recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ab"
    assert main(["ablate", "--base", str(recipe), "--variant", "mlm", "--seeds", "1", "--out", str(out), *TINY]) == 0
    assert "| mlm |" in capsys.readouterr().out
    assert main(["ablate", "--base", str(recipe), "--variant", "mlm", "--variant", "mlm", "--out", str(out)]) == 2
    assert "same name" in capsys.readouterr().err
    assert main(["ablate", "--base", str(recipe), "--variant", "mlm", "--seeds", "2", "--seed", "1", "--out",
                 str(out)]) == 2
    assert "not both" in capsys.readouterr().err
    # --seed runs that seed alone; the folder's table then covers seed 0 (run above) and seed 1.
    assert main(["ablate", "--base", str(recipe), "--variant", "mlm", "--seed", "1", "--out", str(out), *TINY]) == 0
    assert "seeds 0, 1" in capsys.readouterr().out and (out / "mlm" / "seed1" / "cell.json").exists()
