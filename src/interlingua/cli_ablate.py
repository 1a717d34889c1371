"""Subcommand ``ablate`` (parse -> build -> run): variants of a recipe trained from one start, the suite on each,
mean / spread tables."""
from __future__ import annotations

import argparse
from pathlib import Path

from interlingua.cli import nonnegative_int, positive_int
from interlingua.errors import ConfigError


def cmd_ablate(a: argparse.Namespace) -> None:
    from interlingua.ablation import PROFILES, AblationPlan, parse_variant, run_ablation

    profile = PROFILES[a.profile]
    recipe = a.base or profile.recipe
    variants = dict(parse_variant(v, recipe) for v in a.variant)
    if len(variants) != len(a.variant):
        raise ConfigError("--variant: two variants have the same name")
    if a.seed and a.seeds:
        raise ConfigError("give --seeds N (seeds 0..N-1) or --seed S (these seeds only), not both")
    seeds = sorted(set(a.seed)) if a.seed else list(range(a.seeds or profile.seeds))
    quick = profile.quick if a.suite is None else a.suite == "quick"
    plan = AblationPlan(recipe, list(a.overrides), variants, seeds, quick,
                        langs=a.langs.split(",") if a.langs else None, profile=a.profile, skip=a.skip or [])
    run_ablation(plan, Path(a.out))
    print((Path(a.out) / "ablation.md").read_text(encoding="utf-8"))
    print(f"wrote {a.out}/ablation.md, ablation.json, ablation.png and report.html")


def add_ablate_command(sub: argparse._SubParsersAction) -> None:
    ab = sub.add_parser("ablate", help="train variants of a recipe from one start, run the suite on each, tabulate")
    ab.add_argument("--profile", choices=["cpu", "gpu"], default="cpu",
                    help="cpu: me5-small, 12 languages, ~15 min a variant on 2 cores; gpu: longer, all languages")
    ab.add_argument("--base", help="recipe name or YAML (default: the profile's, ablate-cpu / ablate-gpu)")
    ab.add_argument("--variant", action="append", required=True,
                    help="NAME (objectives alone, A+B for several) or NAME=KEY=VALUE[;KEY=VALUE] (repeatable)")
    ab.add_argument("--seeds", type=positive_int, help="seeds 0..N-1 (default: the profile's, cpu 2, gpu 3)")
    ab.add_argument("--seed", type=nonnegative_int, action="append",
                    help="run only this seed (repeatable), e.g. one seed per machine; copy the seed folders into "
                         "one --out afterwards and rerun there to tabulate them together")
    ab.add_argument("--suite", choices=["quick", "full"], help="suite plan (default: the profile's)")
    ab.add_argument("--langs", help="suite languages, comma-separated (default: the plan's)")
    ab.add_argument("--skip", action="append", choices=["tatoeba", "flores", "bucc", "sib200", "align"],
                    help="a suite part not to run (repeatable), e.g. when only some figures are wanted")
    ab.add_argument("--out", required=True, help="ablation folder; rerun the same command to resume")
    ab.add_argument("overrides", nargs="*", help="key.sub=value overrides for every variant")
    ab.set_defaults(fn=cmd_ablate)
