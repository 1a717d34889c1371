"""``interlingua ablate``: train variants of one recipe from the same start, evaluate each with the suite, tabulate.

Every variant trains with the same recipe, data, seed set and step budget (``train.max_minutes`` is set to 0
so that no cell stops early); only its own overrides differ. A variant is given as

* ``NAME``, a registered objective: the recipe with that objective alone (its settings from the recipe's
  ``objectives`` section when it has them, else the objective's defaults);
* ``NAME=KEY=VALUE[;KEY=VALUE...]``: the recipe with those overrides (``NAME=`` alone: the recipe as it is).

Layout of ``--out DIR``::

    plan.json                 what was asked (a later call must agree with it; new variants and seeds may be added)
    start/suite.json          the suite on the start model (when the recipe starts from ``model.init``)
    <variant>/seed<S>/        the run folder of one cell, with its suite.json when evaluated
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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from interlingua import registry
from interlingua.config import load_config, recipe_path
from interlingua.errors import ConfigError
from interlingua.evaluation.suite import FULL, QUICK, run_plan

PLAN_FILE = "plan.json"


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
    steps: int = field(default=0, init=False)

    def cell_overrides(self, variant: str, seed: int) -> list[str]:
        return [*self.overrides, *self.variants[variant], f"train.seed={seed}", "train.max_minutes=0",
                f"name={variant}"]


def parse_variant(spec: str, recipe: str) -> tuple[str, list[str]]:
    """``NAME`` (an objective) or ``NAME=OVERRIDES`` -> (name, overrides); see module doc."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"--variant {spec!r}: expected NAME or NAME=KEY=VALUE[;KEY=VALUE], NAME a folder name")
    if sep:
        return name, [o.strip() for o in rest.split(";") if o.strip()]
    if name not in registry.names("objective"):
        raise ConfigError(f"--variant {name!r} is not an objective ({', '.join(registry.names('objective'))}); "
                          f"give overrides as {name}=KEY=VALUE[;KEY=VALUE]")
    tree = yaml.safe_load(recipe_path(recipe).read_text(encoding="utf-8")) or {}
    settings = (tree.get("objectives") or {}).get(name) or {}
    return name, [f"objectives={json.dumps({name: settings})}"]


def check_plan(out: Path, plan: AblationPlan) -> None:
    """Refuse a plan that contradicts the one ``out`` was started with; record the union of both."""
    path = out / PLAN_FILE
    mine = _plan_dict(plan)
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("recipe", "overrides", "quick", "langs", "steps"):
            if old.get(key) != mine[key]:
                raise ConfigError(f"{out} holds an ablation with {key}={old.get(key)!r}, not {mine[key]!r}; "
                                  "rerun with the same arguments to resume it, or choose another --out")
        for name, overrides in plan.variants.items():
            if name in old["variants"] and old["variants"][name] != overrides:
                raise ConfigError(f"{out}: variant {name!r} was {old['variants'][name]}, now {overrides}; "
                                  "give the new one another name")
        mine["variants"] = {**old["variants"], **mine["variants"]}
        mine["seeds"] = sorted(set(old["seeds"]) | set(mine["seeds"]))
    out.mkdir(parents=True, exist_ok=True)
    from interlingua.weights import atomic_write_text

    atomic_write_text(path, json.dumps(mine, indent=2) + "\n")


def _plan_dict(plan: AblationPlan) -> dict:
    return {"recipe": plan.recipe, "overrides": plan.overrides, "variants": plan.variants, "seeds": plan.seeds,
            "quick": plan.quick, "langs": plan.langs, "profile": plan.profile, "steps": plan.steps}


def _suite_plan(plan: AblationPlan):
    return (QUICK if plan.quick else FULL).with_langs(plan.langs)


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _write(path: Path, result: dict) -> None:
    from interlingua.weights import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def run_cell(plan: AblationPlan, out: Path, variant: str, seed: int) -> dict:
    """Train (or resume, or skip when trained) and evaluate one (variant, seed); returns its suite result."""
    from interlingua.evaluation.embedders import get_embedder
    from interlingua.training.run import train
    from interlingua.weights import latest_checkpoint

    run_dir = out / variant / f"seed{seed}"
    done = _read(run_dir / "suite.json")
    if done is not None:
        return done
    cfg = load_config(plan.recipe, plan.cell_overrides(variant, seed))
    latest = latest_checkpoint(run_dir / "checkpoints") if (run_dir / "checkpoints").is_dir() else None
    trained = (run_dir / "model.safetensors").exists() and latest is not None and \
        latest.name == f"step-{cfg.train.steps:08d}"
    if not trained:
        print(f"[ablate] {variant} seed {seed}: " + ("resuming" if latest else "training"), flush=True)
        train(cfg, run_dir, resume=latest is not None, overwrite=latest is None)
    print(f"[ablate] {variant} seed {seed}: suite", flush=True)
    result = run_plan(get_embedder(str(run_dir)), _suite_plan(plan), quick=plan.quick)
    result.update(model=variant, variant=variant, seed=seed)
    _write(run_dir / "suite.json", result)
    return result


def run_start(plan: AblationPlan, out: Path) -> dict | None:
    """The suite on the model every variant starts from, when the recipe names one (``model.init``)."""
    from interlingua.evaluation.embedders import get_embedder

    init = load_config(plan.recipe, plan.overrides).model.init
    if not init:
        return None
    path = out / "start" / "suite.json"
    done = _read(path)
    if done is not None:
        return done
    print(f"[ablate] start ({init}): suite", flush=True)
    spec = f"baseline:{init}" if init == "me5-small" else init
    result = run_plan(get_embedder(spec), _suite_plan(plan), quick=plan.quick)
    result.update(model=f"start: {init}", variant="start")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, result)
    return result


def run_ablation(plan: AblationPlan, out: Path) -> dict:
    """Every cell not yet done, in variant order then seed order; the tables are rewritten after each cell."""
    from interlingua.ablation_report import write_ablation
    from interlingua.training.run_folder import RunLock

    plan.steps = load_config(plan.recipe, plan.overrides).train.steps
    for name in plan.variants:
        load_config(plan.recipe, plan.cell_overrides(name, plan.seeds[0]))  # every variant's config checked first
    with RunLock(out):
        check_plan(out, plan)
        start = run_start(plan, out)
        cells: dict[str, dict[int, dict]] = {}
        for name in plan.variants:
            for seed in plan.seeds:
                cells.setdefault(name, {})[seed] = run_cell(plan, out, name, seed)
                summary = write_ablation(out, _plan_dict(plan), start, cells)
    return summary
