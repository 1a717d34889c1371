"""Reports for evaluation results: a monospace table, JSON, per-language bar charts, layer sweeps and loss curves.

A result is the dict a registered evaluator returns (``registry.get("evaluator", name)``). Its ``columns``
(score key, header) and ``score`` (the key plotted, its axis label) default to the retrieval tasks' layout;
the plot's title is the result's ``title``, else its evaluator's registered description. Plots use
matplotlib's object API (``Figure``) so nothing touches pyplot's global state or needs a display.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import BinaryIO

import numpy as np
from matplotlib.figure import Figure

from interlingua.errors import InterlinguaError

# The layout of tatoeba / flores results, which do not spell it out.
_RETRIEVAL_COLUMNS = (("xx2eng", "xx→eng"), ("eng2xx", "eng→xx"), ("mean", "mean"))
_RETRIEVAL_SCORE = ("mean", "top-1 accuracy, mean of both directions (%)")
_LOSS_KEY = re.compile(r"^train/.+/loss$")


def _languages(results: list[dict]) -> list[str]:
    """Union of the results' languages, in first-seen order."""
    return list(dict.fromkeys(lang for result in results for lang in result["langs"]))


def _columns(result: dict) -> list[tuple[str, str]]:
    return [tuple(c) for c in result.get("columns", _RETRIEVAL_COLUMNS)]


def task_title(result: dict) -> str:
    """What the result measures: its ``title``, else the registered description of its ``task``."""
    if result.get("title"):
        return result["title"]
    from interlingua import registry

    task = result.get("task", "")
    return registry.get("evaluator", task).description if task in registry.names("evaluator") else task


def format_table(results: list[dict]) -> str:
    """Rows = languages plus ``average``; one column group per model (the result's ``columns``; for
    retrieval xx→eng / eng→xx / mean, percent). All results must share one layout.

    A column group is as wide as its model's name, so no name is cut. ``n`` is the number of sentence pairs
    of the first result that has the language.
    """
    if not results:
        raise InterlinguaError("format_table: no results")
    columns = _columns(results[0])
    if any(_columns(r) != columns for r in results):
        raise InterlinguaError("format_table: results of different tasks (columns differ); one table per task")
    langs = _languages(results)
    width = max(len("average"), *(len(lang) for lang in langs))
    k = len(columns)
    cells = [max(7, -(-(len(r["model"]) - (k - 1)) // k)) for r in results]  # ceil: k cells + k-1 spaces hold the name
    prefix = width + 9  # "<lang> <n:5> | "
    head1 = " " * prefix + " | ".join(r["model"].center(k * c + k - 1) for r, c in zip(results, cells))
    head2 = "lang".ljust(width) + "     n | " + " | ".join(
        " ".join(label.rjust(c) for _, label in columns) for c in cells
    )
    rule = "-" * len(head2)
    lines = [head1.rstrip(), head2, rule]
    for lang in langs + ["average"]:
        if lang == "average":
            lines.append(rule)
        n = next((r["langs"][lang]["n"] for r in results if lang in r["langs"]), "")
        row = []
        for r, c in zip(results, cells):
            scores = r["average"] if lang == "average" else r["langs"].get(lang)
            row.append(" ".join((f"{scores[key]:.2f}" if scores else "-").rjust(c) for key, _ in columns))
        lines.append(f"{lang.ljust(width)} {str(n).rjust(5)} | " + " | ".join(row))
    return "\n".join(lines)


def write_outputs(results: list[dict], out: Path, task: str) -> str:
    """The default outputs of ``interlingua eval TASK``: one JSON per model, the per-language PNG and, for a layer
    sweep, the by-layer PNG; returns the table and what was written."""
    for r in results:
        write_json(r, out / f"{task}-{slug(r['model'])}.json")
    plot_per_language(results, out / f"{task}.png")
    lines = [format_table(results)]
    if any(r.get("by_layer") for r in results):  # a layer sweep (eval align --layer all)
        plot_by_layer(results, out / f"{task}-layers.png")
        lines.append(f"wrote {out}/{task}-layers.png")
    lines.append(f"wrote {out}/{task}.png and JSON results")
    return "\n".join(lines)


def slug(name: str) -> str:
    """A file-name-safe form of a model name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_json(result: dict, path: str | Path) -> Path:
    """Write ``result`` as indented UTF-8 JSON (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def plot_per_language(results: list[dict], path: str | Path) -> Path:
    """Grouped bar PNG of the result's ``score`` per language (retrieval: mean top-1 accuracy), one bar
    colour per model, titled by :func:`task_title`."""
    if not results:
        raise InterlinguaError("plot_per_language: no results")
    key, axis_label = results[0].get("score", _RETRIEVAL_SCORE)
    langs = _languages(results)
    x = np.arange(len(langs))
    bar = 0.8 / len(results)
    fig = Figure(figsize=(max(6.0, 0.18 * len(langs) * len(results) + 2.0), 4.5), layout="constrained")
    ax = fig.add_subplot()
    for k, result in enumerate(results):
        values = [result["langs"][lang][key] if lang in result["langs"] else np.nan for lang in langs]
        label = f"{result['model']} (avg {result['average'][key]:.1f})"
        ax.bar(x + (k - (len(results) - 1) / 2) * bar, values, width=bar, label=label)
    crowded = len(langs) > 12 or sum(len(lang) for lang in langs) > 70  # labels would overlap side by side
    ax.set_xticks(x, langs, rotation=90 if crowded else 0, fontsize=8 if len(langs) > 40 else 10)
    ax.set_xlim(-0.6, len(langs) - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel(axis_label)
    pivot = results[0].get("pivot")  # classification results have none: no "X ↔ pivot"
    title = f"{task_title(results[0])}, per language" + (f" (X ↔ {pivot})" if pivot else "")
    ax.set_title(textwrap.fill(title, width=int(9 * fig.get_figwidth())))  # ~9 characters an inch at 12 pt
    ax.grid(axis="y", alpha=0.3)
    outside = {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0)} if len(results) > 1 else {}  # off the bars
    ax.legend(fontsize=8, **outside)
    return save_figure(fig, path)


def plot_by_layer(results: list[dict], path: str | Path) -> Path:
    """Line PNG of the ``score`` against the layer for results that swept layers (``by_layer``: layer ->
    {langs, average}, as ``eval align --layer all`` returns): one line per language or pair, the average dashed,
    the reported ``layer`` marked."""
    sweeps = [r for r in results if r.get("by_layer")]
    if not sweeps:
        raise InterlinguaError("plot_by_layer: no result holds a layer sweep (by_layer)")
    key, axis_label = sweeps[0].get("score", _RETRIEVAL_SCORE)
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for result in sweeps:
        layers = sorted(result["by_layer"], key=int)
        x = [int(k) for k in layers]
        model = f"{result['model']} " if len(sweeps) > 1 else ""
        for lang in result["langs"]:
            ax.plot(x, [result["by_layer"][k]["langs"][lang][key] for k in layers], marker="o", label=f"{model}{lang}")
        average = [result["by_layer"][k]["average"][key] for k in layers]
        line = ax.plot(x, average, linestyle="--", color="black" if len(sweeps) == 1 else None,
                       label=f"{model}average")[0]
        best = int(result["layer"])
        ax.plot([best], [result["by_layer"][str(best)]["average"][key]], marker="*", markersize=14,
                color=line.get_color(), linestyle="none", label=f"{model}reported: layer {best}")
    ax.set_xticks(sorted({int(k) for r in sweeps for k in r["by_layer"]}))
    ax.set_xlabel("layer (0 = embedding output)")
    ax.set_ylabel(axis_label)
    ax.set_title(textwrap.fill(f"{task_title(sweeps[0])}, by layer", width=int(9 * fig.get_figwidth())))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | Path | BinaryIO) -> Path | BinaryIO:
    """Save as PNG to a path (parents created) or into an open binary file (the HTML report's inline images)."""
    if hasattr(path, "write"):
        fig.savefig(path, dpi=110, format="png")
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def read_loss_curves(metrics_jsonl: str | Path) -> dict[str, tuple[list[int], list[float]]]:
    """``train/<name>/loss`` key -> (steps, values) from a JSONL of training metrics.

    Lines without a ``step`` or without any loss key (e.g. eval-only records) are skipped; blank
    lines are ignored; a line that is not a JSON object raises, naming the file and line.
    """
    curves: dict[str, tuple[list[int], list[float]]] = {}
    path = Path(metrics_jsonl)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InterlinguaError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
        if not isinstance(record, dict):
            raise InterlinguaError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        if "step" not in record:
            continue
        for key, value in record.items():
            if _LOSS_KEY.match(key) and isinstance(value, (int, float)):
                steps, values = curves.setdefault(key, ([], []))
                steps.append(int(record["step"]))
                values.append(float(value))
    return curves


def plot_loss_curves(metrics_jsonl: str | Path, path: str | Path, log_y: bool = False) -> Path:
    """PNG of every ``train/*/loss`` series in ``metrics_jsonl`` against step."""
    curves = read_loss_curves(metrics_jsonl)
    if not curves:
        raise InterlinguaError(f"{metrics_jsonl}: no train/<objective>/loss values with a step")
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for key, (steps, values) in sorted(curves.items()):
        ax.plot(steps, values, label=key, linewidth=1.2)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"training loss ({Path(metrics_jsonl).name})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
