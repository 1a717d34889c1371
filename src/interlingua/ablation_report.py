"""The ablation's tables: ``ablation.json`` (every cell's headline figures and their mean / spread over seeds),
``ablation.md`` (mean ± sample standard deviation, best mean of a column in bold), ``ablation.png`` (one panel
per figure: a bar per variant at its mean, the seeds as dots, the start model as a dashed line) and
``report.html`` (the suite report of the start model and of each variant's first seed)."""
from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean, stdev

from matplotlib.figure import Figure


def aggregate(start: dict | None, cells: dict[str, dict[int, dict]]) -> dict:
    """Per variant and headline metric: values by seed, mean, std (sample; 0 for one seed), n."""
    metrics = _metric_info(start, cells)
    rows = {}
    for name, by_seed in cells.items():
        row = {}
        for key in metrics:
            values = {seed: r["headline"][key]["value"] for seed, r in sorted(by_seed.items()) if key in r["headline"]}
            if values:
                v = list(values.values())
                row[key] = {"values": values, "mean": fmean(v), "std": stdev(v) if len(v) > 1 else 0.0, "n": len(v)}
        rows[name] = row
    return {"metrics": metrics, "variants": rows,
            "start": {k: v["value"] for k, v in start["headline"].items()} if start else None}


def _metric_info(start: dict | None, cells: dict[str, dict[int, dict]]) -> dict[str, dict]:
    results = ([start] if start else []) + [r for by_seed in cells.values() for r in by_seed.values()]
    info: dict[str, dict] = {}
    for r in results:
        for key, h in r["headline"].items():
            info.setdefault(key, {"label": h["label"], "higher_is_better": h["higher_is_better"]})
    return info


def markdown(summary: dict, plan: dict) -> str:
    metrics, rows = summary["metrics"], summary["variants"]
    header = ["variant", *(m["label"] for m in metrics.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    if summary["start"]:
        lines.append("| start | " + " | ".join(_num(summary["start"].get(k)) for k in metrics) + " |")
    best = {}
    for key, m in metrics.items():
        means = [r[key]["mean"] for r in rows.values() if key in r]
        best[key] = (max if m["higher_is_better"] else min)(means) if means else None
    for name, row in rows.items():
        cells = []
        for key in metrics:
            if key not in row:
                cells.append("–")
                continue
            text = f"{row[key]['mean']:.2f}" + (f" ± {row[key]['std']:.2f}" if row[key]["n"] > 1 else "")
            cells.append(f"**{text}**" if row[key]["mean"] == best[key] and len(rows) > 1 else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = ", ".join(map(str, plan["seeds"]))
    lines += ["", f"Recipe `{plan['recipe']}`{' (profile ' + plan['profile'] + ')' if plan.get('profile') else ''}, "
              f"{plan['steps']} steps, seeds {seeds}; mean ± sample std over the seeds evaluated; "
              f"{'quick' if plan['quick'] else 'full'} suite. AER: lower is better, every other figure higher."]
    for name, overrides in plan["variants"].items():
        lines.append(f"- `{name}`: {' '.join(overrides) or '(the recipe as it is)'}")
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def plot(summary: dict, path: Path) -> Path:
    metrics, rows = summary["metrics"], summary["variants"]
    names = list(rows)
    fig = Figure(figsize=(3.2 * max(1, len(metrics)), 3.6), layout="constrained")
    for k, (key, m) in enumerate(metrics.items()):
        ax = fig.add_subplot(1, len(metrics), k + 1)
        for x, name in enumerate(names):
            cell = rows[name].get(key)
            if not cell:
                continue
            # Points, not bars from zero: variants differ by a point or two on scales of 0-100.
            ax.errorbar(x, cell["mean"], yerr=cell["std"] or 0.0, fmt="s", color=f"C{x}", capsize=4, markersize=7)
            ax.plot([x] * cell["n"], list(cell["values"].values()), "o", color="black", markersize=3)
        if summary["start"] and key in summary["start"]:
            ax.axhline(summary["start"][key], color="gray", linestyle="--", linewidth=1, label="start")
            ax.legend(fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_title(m["label"] + ("" if m["higher_is_better"] else " ↓"), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def train_seconds(run_dir: Path) -> float | None:
    """Training time of a run over all its sessions: the last ``time_s`` its metrics.jsonl logged."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    times = [json.loads(line).get("time_s") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    times = [t for t in times if isinstance(t, (int, float))]
    return round(times[-1], 1) if times else None


def write_ablation(out: Path, plan: dict, start: dict | None, cells: dict[str, dict[int, dict]]) -> dict:
    """Write the four outputs from the cells done so far; returns the summary."""
    from interlingua.evaluation.html_report import write_report
    from interlingua.weights import atomic_write_text

    summary = aggregate(start, cells)
    summary["cells"] = {name: {str(s): {"train_seconds": train_seconds(out / name / f"seed{s}"),
                                        "suite_seconds": r.get("seconds")}
                               for s, r in by_seed.items()} for name, by_seed in cells.items()}
    atomic_write_text(out / "ablation.json", json.dumps({"plan": plan, **summary}, indent=2) + "\n")
    atomic_write_text(out / "ablation.md", markdown(summary, plan))
    plot(summary, out / "ablation.png")
    firsts = ([start] if start else []) + [by_seed[min(by_seed)] for by_seed in cells.values() if by_seed]
    write_report(firsts, out / "report.html")
    return summary
