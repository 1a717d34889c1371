"""The suite's ``report.html``: one self-contained page (inline CSS, PNGs as data URIs, no script, no network).

Sections: the headline table (one column per model, the best figure of each row in bold), then per part a
per-language table and bar chart of every model, for word alignment the AER-by-layer plot when the layers were
swept and similarity heatmaps of a few sentence pairs (gold sure links boxed, possible links dashed, predicted
links dotted), and the parts that were skipped, with the reason.
"""
from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from interlingua.evaluation.report import plot_by_layer, plot_per_language, save_figure, task_title

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child, td.text { text-align: left; }
tr.avg td { font-weight: 600; background: #fafafa; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
details { margin: 0.5em 0; } .maps img { width: 32%; min-width: 280px; }
"""


def _png(fig_or_plot) -> str:
    """An ``<img>`` with the PNG inline: a Figure, or a function that saves its plot into a file object."""
    buf = io.BytesIO()
    if isinstance(fig_or_plot, Figure):
        save_figure(fig_or_plot, buf)
    else:
        fig_or_plot(buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _cell(value: object) -> str:
    """A table cell: numbers to two decimals, right-aligned (the default); text left-aligned."""
    if isinstance(value, (int, float)):
        return f"<td>{value:.2f}</td>"
    return f'<td class="text">{html.escape(str(value))}</td>'



def _table(header: list[str], rows: list[list[object]], avg_last: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        cls = ' class="avg"' if avg_last and k == len(rows) - 1 else ""
        body.append(f"<tr{cls}>" + "".join(_cell(c) for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def headline_table(results: list[dict]) -> str:
    """Metric rows, model columns; the best value of a row (by its direction) in bold."""
    keys = list(dict.fromkeys(k for r in results for k in r["headline"]))
    rows = []
    for key in keys:
        info = next(r["headline"][key] for r in results if key in r["headline"])
        values = [r["headline"][key]["value"] if key in r["headline"] else None for r in results]
        present = [v for v in values if v is not None]
        best = (max if info["higher_is_better"] else min)(present)
        cells = ["–" if v is None else (f"<b>{v:.2f}</b>" if v == best and len(present) > 1 else f"{v:.2f}")
                 for v in values]
        rows.append(f"<tr><td>{html.escape(info['label'])}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "<th>metric</th>" + "".join(f"<th>{html.escape(r['model'])}</th>" for r in results)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _bars(parts: list[dict], per_row: int = 30) -> str:
    """Per-language bar charts, ``per_row`` languages a chart (112 Tatoeba or 205 SIB-200 languages in one chart
    would be too narrow to read once scaled to the page); legends keep every language's average."""
    langs = list(dict.fromkeys(lang for p in parts for lang in p["langs"]))
    if len(langs) <= per_row + per_row // 3:
        return _png(lambda buf: plot_per_language(parts, buf))
    charts = []
    for start in range(0, len(langs), per_row):
        chunk = langs[start:start + per_row]
        title = f"{task_title(parts[0])} (languages {start + 1}–{start + len(chunk)} of {len(langs)})"
        subset = [{**p, "title": title, "langs": {k: p["langs"][k] for k in chunk if k in p["langs"]}} for p in parts]
        charts.append(_png(lambda buf, subset=subset: plot_per_language(subset, buf)))
    return "".join(charts)


def part_table(parts: list[dict]) -> str:
    """Languages (or gold sets) x models, the part's plotted score; the average last."""
    key, label = parts[0].get("score", ("mean", "mean"))
    langs = list(dict.fromkeys(lang for p in parts for lang in p["langs"]))
    rows = [[lang, *(p["langs"][lang][key] if lang in p["langs"] else "–" for p in parts)] for lang in langs]
    rows.append(["average", *(p["average"][key] for p in parts)])
    return _table([f"language: {label}", *(p["model"] for p in parts)], rows, avg_last=True)


def alignment_figure(example: dict, title: str) -> Figure:
    """Word-by-word cosine heatmap with gold and predicted links marked."""
    sim = np.asarray(example["similarity"], dtype=float)  # (m, n) source words x target words
    m, n = sim.shape
    fig = Figure(figsize=(max(3.5, 0.32 * n + 2.2), max(3.0, 0.3 * m + 1.6)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(sim, cmap="Blues", vmin=min(0.0, float(sim.min())), vmax=1.0)
    for (i, j), style in [*((tuple(c), "-") for c in example["sure"]), *((tuple(c), "--") for c in example["possible"])]:
        ax.add_patch(_box(i, j, style))
    if example["links"]:
        links = np.asarray(example["links"])
        ax.plot(links[:, 1], links[:, 0], "o", color="#d62728", markersize=4, label="predicted")
    ax.set_xticks(range(n), [_plain(w) for w in example["tgt"]], rotation=70, fontsize=7)
    ax.set_yticks(range(m), [_plain(w) for w in example["src"]], fontsize=7)
    ax.set_title(title, fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.6, label="cosine")
    return fig


def _plain(text: str) -> str:
    """Text matplotlib shows as it is: a pair of ``$`` would otherwise start a formula (and can fail to parse)."""
    return text.replace("$", r"\$")


def _box(i: int, j: int, style: str):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linestyle=style, linewidth=1.1)


def _align_extras(parts: list[dict]) -> str:
    html_parts = []
    if any(p.get("by_layer") for p in parts):
        html_parts.append(_png(lambda buf: plot_by_layer(parts, buf)))
    for p in parts:
        for name, examples in (p.get("examples") or {}).items():
            if not examples:
                continue
            maps = "".join(_png(alignment_figure(ex, f"{name} #{k + 1}, layer {p['layer']}, {p['method']}"))
                           for k, ex in enumerate(examples))
            html_parts.append(f"<details open><summary>{html.escape(p['model'])}: {html.escape(name)} — boxes: "
                              f"gold sure (solid) / possible (dashed); dots: predicted</summary>"
                              f'<div class="maps">{maps}</div></details>')
    return "".join(html_parts)


def render(results: list[dict]) -> str:
    """The whole page for one or more models' suite results."""
    tasks = list(dict.fromkeys(t for r in results for t in r["parts"]))
    body = [f"<h1>interlingua evaluation suite</h1><p class='note'>models: "
            f"{', '.join(html.escape(r['model']) for r in results)} · "
            f"{'quick plan' if results[0].get('quick') else 'full plan'} · "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>", "<h2>Headline</h2>", headline_table(results)]
    for task in tasks:
        parts = [r["parts"][task] for r in results if task in r["parts"]]
        body.append(f"<h2>{html.escape(task_title(parts[0]))}</h2>")
        body.append(_bars(parts))
        body.append(f"<details><summary>per-language table ({len(parts[0]['langs'])} rows)</summary>"
                    f"{part_table(parts)}</details>")
        if task == "align":
            body.append(_align_extras(parts))
    for kind, key in (("Skipped", "skipped"), ("Failed", "failed")):
        rows = [[r["model"], t, why] for r in results for t, why in r.get(key, {}).items()]
        if rows:
            body.append(f"<h2>{kind}</h2>" + _table(["model", "part", "reason"], rows))
    seconds = [[r["model"], *(r["seconds"].get(t, "–") for t in tasks)] for r in results]
    body.append("<h2>Time (seconds)</h2>" + _table(["model", *tasks], seconds))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>interlingua suite</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(results: list[dict], path: Path) -> Path:
    """Write the page atomically (a reader never sees half of it; the ablation rewrites it after every cell)."""
    from interlingua.weights import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render(results))
    return path
