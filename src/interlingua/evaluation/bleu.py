"""BLEU and chrF of a translation model (sacreBLEU), per direction, on Multi30k, FLORES-200 or your own files.

``interlingua eval bleu --model RUN --pairs deu-eng,eng-deu --data multi30k [--beam 4] [--length-penalty 1.0]``.
Scores are sacreBLEU's corpus BLEU with its default 13a tokenisation for every target language (recorded in the
signature) and chrF (character 6-grams, β = 2), each with its signature so a figure can be reproduced.
``--data`` is ``multi30k`` (test_2016_flickr), ``flores`` (devtest) or ``SRC_FILE,REF_FILE`` (line-aligned
text, one direction given by ``--pairs``).
"""
from __future__ import annotations

from pathlib import Path

from interlingua import registry
from interlingua.data.langcodes import to_iso3
from interlingua.data.readers import read_flores, read_lines, read_multi30k
from interlingua.errors import ConfigError
from interlingua.evaluation.report import slug, write_json
from interlingua.evaluation.tasks import cli_flag


def parse_pairs(spec: str) -> list[tuple[str, str]]:
    pairs = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        src, sep, tgt = part.partition("-")
        if not sep or not src or not tgt:
            raise ConfigError(f"--pairs {spec!r}: expected SRC-TGT[,SRC-TGT], e.g. deu-eng,eng-deu")
        pairs.append((src, tgt))
    if not pairs:
        raise ConfigError("--pairs: no direction given")
    return pairs


def load_direction(data: str, src: str, tgt: str, max_sentences: int | None) -> tuple[list[str], list[str]]:
    if data == "multi30k":
        sources, refs = read_multi30k(src, "test_2016_flickr"), read_multi30k(tgt, "test_2016_flickr")
    elif data == "flores":
        sources, refs = read_flores(src), read_flores(tgt)
    else:
        files = data.split(",")
        if len(files) != 2:
            raise ConfigError(f"--data {data!r}: expected multi30k, flores or SRC_FILE,REF_FILE")
        sources, refs = read_lines(Path(files[0])), read_lines(Path(files[1]))
        if len(sources) != len(refs):
            raise ConfigError(f"--data: {files[0]} has {len(sources)} lines, {files[1]} {len(refs)}")
    n = max_sentences or len(sources)
    return sources[:n], refs[:n]


def score(hyps: list[str], refs: list[str]) -> dict:
    import sacrebleu

    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    return {"bleu": round(b.score, 2), "chrf": round(c.score, 2), "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature()), "n": len(refs)}


@cli_flag("--beam", type=int, help="bleu: beam size (default 4; 1 = greedy)")
@cli_flag("--length-penalty", type=float, help="bleu: beam score = log p / length^penalty (default 1.0)")
@registry.register("evaluator", "bleu", description="translation BLEU and chrF (sacreBLEU) per direction")
def evaluate_bleu(translator, langs: list[str] | None = None, *, pairs: str | None = None, data: str | None = None,
                  beam: int | None = None, length_penalty: float | None = None, max_sentences: int | None = None,
                  progress: bool = True) -> dict:
    """``translator``: :class:`interlingua.translation.Translator`; ``pairs`` "deu-eng,eng-deu" (default)."""
    directions = parse_pairs(pairs or "deu-eng,eng-deu")
    data, beam = data or "multi30k", beam or 4
    length_penalty = 1.0 if length_penalty is None else length_penalty  # 0 is a valid penalty
    per: dict[str, dict] = {}
    for src, tgt in directions:
        sources, refs = load_direction(data, src, tgt, max_sentences)
        hyps = translator.translate(sources, to_iso3(src) or src, to_iso3(tgt) or tgt, beam=beam,
                                    length_penalty=length_penalty, progress=progress)
        per[f"{src}-{tgt}"] = {**score(hyps, refs), "examples": [[s, h, r] for s, h, r in zip(sources, hyps, refs)][:5]}
    metrics = {f"bleu/{d}/{k}": v[k] for d, v in per.items() for k in ("bleu", "chrf")}
    return {"task": "bleu", "model": translator.name, "data": data, "beam": beam, "length_penalty": length_penalty,
            "directions": per, "metrics": metrics}


def write_bleu_outputs(results: list[dict], out: Path, task: str) -> str:
    """One JSON per model, ``bleu.png`` (BLEU and chrF per direction and model), and a table."""
    for r in results:
        write_json(r, out / f"{task}-{slug(r['model'])}.json")
    plot_bleu(results, out / f"{task}.png")
    lines = [f"{'model':<24} {'direction':<10} {'BLEU':>6} {'chrF':>6}     n"]
    for r in results:
        for d, v in r["directions"].items():
            lines.append(f"{r['model']:<24} {d:<10} {v['bleu']:>6.2f} {v['chrf']:>6.2f} {v['n']:>5}")
    sig = next(iter(results[0]["directions"].values()))
    lines += [f"BLEU: {sig['bleu_signature']}", f"chrF: {sig['chrf_signature']}", f"wrote {out}/{task}.png and JSON"]
    return "\n".join(lines)


def plot_bleu(results: list[dict], path: Path) -> Path:
    import numpy as np
    from matplotlib.figure import Figure

    dirs = list(dict.fromkeys(d for r in results for d in r["directions"]))
    fig = Figure(figsize=(4 + 1.5 * len(dirs), 4), layout="constrained")
    axes = fig.subplots(1, 2)
    width = 0.8 / len(results)
    for ax, key, label in zip(axes, ("bleu", "chrf"), ("BLEU", "chrF")):
        for k, r in enumerate(results):
            vals = [r["directions"].get(d, {}).get(key, np.nan) for d in dirs]
            ax.bar(np.arange(len(dirs)) + (k - (len(results) - 1) / 2) * width, vals, width, label=r["model"])
        ax.set_xticks(np.arange(len(dirs)), dirs)
        ax.set_ylabel(label)
        ax.set_title(f"{label} ({results[0]['data']}, beam {results[0]['beam']})")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(len(results), 3),
               fontsize=8)  # below both panels, off the bars
    fig.savefig(path, dpi=120)
    return path


evaluate_bleu.write_outputs = write_bleu_outputs
evaluate_bleu.model_loader = "translator"
