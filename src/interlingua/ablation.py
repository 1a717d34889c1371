"""``interlingua ablate``: train variants of one recipe from the same start, evaluate each with the suite, tabulate.

Every variant trains with the same recipe, data, seed set and step budget (``train.max_minutes`` is set to 0
so that no cell stops early); only its own overrides differ. A variant is given as

* ``NAME``, a registered objective, or several joined by ``+`` (``translation_ranking+clwa``): the recipe with
  those objectives alone (their settings from the recipe's ``objectives`` section when it has them, else the
  objectives' defaults);
* ``NAME=KEY=VALUE[;KEY=VALUE...]``: the recipe with those overrides (``NAME=`` alone: the recipe as it is).

Layout of ``--out DIR``::

    plan.json                 what was asked (a later call must resolve to the same base config; new variants and
                              seeds may be added, and a variant without cells may be redefined)
    start/cell.json           the suite on the start model (when the recipe starts from ``model.init``)
    <variant>/seed<S>/        the run folder of one cell, with its cell.json (suite result) when evaluated
    ablation.md / .json / .png  mean and spread over seeds, rewritten after every cell
    report.html               the suite report of the start and of each variant's first seed

A killed ablation resumes where it stopped: evaluated cells are read back, a cell with a checkpoint resumes
from it (bit-exact, see the trainer), a trained cell is only evaluated. Profiles fix recipe, suite and seeds:
``cpu`` (``recipes/ablate-cpu.yaml``: me5-small, the suite's 12 quick languages, about 7 minutes of training
plus suite per seed on 2 cores, so a variant with its two seeds takes about 15 minutes) and ``gpu``
(``recipes/ablate-gpu.yaml``: more steps, every Bible + gettext language, the full suite, three seeds).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from interlingua import registry
from interlingua.config import load_config, recipe_path, to_dict
from interlingua.errors import ConfigError
from interlingua.evaluation.suite import plan_for, run_plan
from interlingua.weights import atomic_write_text, latest_checkpoint

PLAN_FILE = "plan.json"
CELL_FILE = "cell.json"  # not suite.json: `eval suite --model <cell>` writes that into the model folder
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class Profile:
    recipe: str
    quick: bool
    seeds: int


PROFILES = {"cpu": Profile("ablate-cpu", quick=True, seeds=2), "gpu": Profile("ablate-gpu", quick=False, seeds=3)}


@dataclass
class AblationPlan:
    recipe: str
    overrides: list[str]
    variants: dict[str, list[str]]  # name -> its overrides
    seeds: list[int]
    quick: bool
    langs: list[str] | None = None  # suite languages (None: the plan's own)
    profile: str | None = None
    skip: list[str] = field(default_factory=list)  # suite parts not run (not part of the plan's identity)
    steps: int = field(default=0, init=False)

    def cell_overrides(self, variant: str, seed: int) -> list[str]:
        return [*self.overrides, *self.variants[variant], f"train.seed={seed}", "train.max_minutes=0",
                f"name={variant}"]


def parse_variant(spec: str, recipe: str) -> tuple[str, list[str]]:
    """``NAME`` (an objective) or ``NAME=OVERRIDES`` -> (name, overrides); see module doc."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not _NAME.fullmatch(name) or name == "start":
        raise ConfigError(f"--variant {spec!r}: expected NAME or NAME=KEY=VALUE[;KEY=VALUE], NAME of letters, digits, "
                          "and _ . + - (not 'start', the start model's row)")
    if sep:
        return name, [o.strip() for o in rest.split(";") if o.strip()]
    unknown = [part for part in name.split("+") if part not in registry.names("objective")]
    if unknown:
        raise ConfigError(f"--variant {name!r}: {unknown[0]!r} is not an objective "
                          f"({', '.join(registry.names('objective'))}); give overrides as {name}=KEY=VALUE[;KEY=VALUE]")
    tree = yaml.safe_load(recipe_path(recipe).read_text(encoding="utf-8")) or {}
    settings = tree.get("objectives") or {}
    return name, [f"objectives={json.dumps({part: settings.get(part) or {} for part in name.split('+')})}"]


def check_plan(out: Path, plan: AblationPlan) -> dict:
    """Refuse a plan that contradicts the one ``out`` was started with; record and return the union of both.

    The base is compared as the resolved config (recipe + overrides), so an edited recipe file is caught. A
    variant may be redefined only while it has no cell folder yet."""
    path = out / PLAN_FILE
    mine = _plan_dict(plan)
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("base", "quick", "langs"):
            if old.get(key) != mine[key]:
                what = "recipe and overrides resolve to another config" if key == "base" else \
                    f"{key}={old.get(key)!r}, not {mine[key]!r}"
                raise ConfigError(f"{out} holds an ablation whose {what}; rerun with the same arguments to resume "
                                  "it, or choose another --out")
        for name, overrides in plan.variants.items():
            if name in old["variants"] and old["variants"][name] != overrides and (out / name).exists():
                raise ConfigError(f"{out}: variant {name!r} was {old['variants'][name]}, now {overrides}, and has "
                                  "cells already; give the new one another name")
        mine["variants"] = {**old["variants"], **mine["variants"]}
        mine["seeds"] = sorted(set(old["seeds"]) | set(mine["seeds"]))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(mine, indent=2) + "\n")
    return mine


def _plan_dict(plan: AblationPlan) -> dict:
    return {"recipe": plan.recipe, "overrides": plan.overrides, "variants": plan.variants, "seeds": plan.seeds,
            "quick": plan.quick, "langs": plan.langs, "profile": plan.profile, "steps": plan.steps,
            "base": to_dict(load_config(plan.recipe, plan.overrides))}


def _suite_plan(plan: AblationPlan):
    return replace(plan_for(plan.quick, plan.langs), skip=tuple(plan.skip))


def _write(path: Path, result: dict) -> None:
    atomic_write_text(path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def run_cell(plan: AblationPlan, out: Path, variant: str, seed: int) -> dict:
    """Train (or resume, or skip when trained) and evaluate one (variant, seed); returns its suite result."""
    from interlingua.evaluation.embedders import get_embedder
    from interlingua.training.run import train

    run_dir = out / variant / f"seed{seed}"
    done = read_cell(run_dir)
    if done is not None:
        return done
    cfg = load_config(plan.recipe, plan.cell_overrides(variant, seed))
    latest = latest_checkpoint(run_dir / "checkpoints") if (run_dir / "checkpoints").is_dir() else None
    # model.safetensors is written (atomically) only once training ends; a final checkpoint without it: resume.
    trained = (run_dir / "model.safetensors").exists() and (latest is None or latest.name == _final(cfg))
    if not trained:
        print(f"[ablate] {variant} seed {seed}: " + ("resuming" if latest else "training"), flush=True)
        train(cfg, run_dir, resume=latest is not None, overwrite=latest is None)
    print(f"[ablate] {variant} seed {seed}: suite", flush=True)
    result = run_plan(get_embedder(str(run_dir)), _suite_plan(plan), quick=plan.quick, strict=True)
    result.update(model=variant, variant=variant, seed=seed)
    _write(run_dir / CELL_FILE, result)
    return result


def _final(cfg) -> str:
    return f"step-{cfg.train.steps:08d}"


def read_cell(folder: Path) -> dict | None:
    """A cell's saved suite result, None when there is none; a file that is not one is an error naming it."""
    path = folder / CELL_FILE
    if not path.exists():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(result, dict) or result.get("task") != "suite" or "headline" not in result:
        raise ConfigError(f"{path} is not an ablation cell's suite result; move it away to evaluate the cell again")
    return result


def run_start(plan: AblationPlan, out: Path) -> dict | None:
    """The suite on the model every variant starts from, when the recipe names one (``model.init``), read with the
    recipe's pooling and text prefix as the trained cells are."""
    from interlingua.encoding import load_encoder
    from interlingua.training.run import resolve_init

    cfg = load_config(plan.recipe, plan.overrides)
    if not cfg.model.init:
        return None
    done = read_cell(out / "start")
    if done is not None:
        return done
    print(f"[ablate] start ({cfg.model.init}): suite", flush=True)
    embedder = load_encoder(resolve_init(cfg.model.init), quantize=False).bind(f"start: {cfg.model.init}", pooling=cfg.eval.pooling,
                                                       prefix=cfg.model.text_prefix)
    result = run_plan(embedder, _suite_plan(plan), quick=plan.quick, strict=True)
    result.update(variant="start")
    (out / "start").mkdir(parents=True, exist_ok=True)
    _write(out / "start" / CELL_FILE, result)
    return result


def run_ablation(plan: AblationPlan, out: Path) -> dict:
    """Every cell not yet done, in variant order then seed order; the tables, rewritten after each cell, cover
    every evaluated cell of the folder's plan (earlier calls' variants and seeds too)."""
    from interlingua.ablation_report import write_ablation
    from interlingua.training.run_folder import RunLock

    plan.steps = load_config(plan.recipe, plan.overrides).train.steps
    for name in plan.variants:  # every variant's config checked before anything runs
        steps = load_config(plan.recipe, plan.cell_overrides(name, plan.seeds[0])).train.steps
        if steps != plan.steps:
            raise ConfigError(f"--variant {name}: train.steps={steps}, the others {plan.steps}; variants share one "
                              "step budget (set train.steps for all with a trailing override)")
    with RunLock(out, hint="another ablation uses it; wait for it or choose another --out"):
        merged = check_plan(out, plan)
        start = run_start(plan, out)
        cells, summary = _saved_cells(out, merged), {}  # earlier calls' cells too, read once
        for name in plan.variants:
            for seed in plan.seeds:
                cells.setdefault(name, {})[seed] = run_cell(plan, out, name, seed)
                summary = write_ablation(out, merged, start, {v: cells[v] for v in merged["variants"] if v in cells})
    return summary


def _saved_cells(out: Path, merged: dict) -> dict[str, dict[int, dict]]:
    cells: dict[str, dict[int, dict]] = {}
    for name in merged["variants"]:
        for seed in merged["seeds"]:
            result = read_cell(out / name / f"seed{seed}")
            if result is not None:
                cells.setdefault(name, {})[seed] = result
    return cells
