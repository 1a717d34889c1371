"""Quality comparison of recipes at equal steps and data, from scratch: by default `xlm` (MLM + CLM + TLM)
against `xlmr` (MLM only); `--recipes labse,xlmr` puts sentence-level training against MLM.

Every run reads the same corpus for the same languages (the recipes' defaults: gettext, the six demo
languages) and trains for the same number of steps; each keeps its own recipe's model, batch, vocabulary
size, α and embeddings. Tatoeba top-1 retrieval (mean pooling, both directions) is measured for every
trained language; wall time per run is printed beside it.

    python benchmarks/compare_recipes.py --steps 1500 --out runs/compare [key=value overrides for all]

Last line: ``<recipe>_mean=X.XX ... delta=Z.ZZ`` (first recipe minus last).
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from interlingua.config import load_config
from interlingua.evaluation.embedders import get_embedder
from interlingua.evaluation.report import format_table, plot_per_language, write_json
from interlingua.evaluation.tasks import evaluate_tatoeba
from interlingua.training.run import train


def run(recipe: str, steps: int, out: Path, overrides: list[str]) -> dict:
    cfg = load_config(recipe, [f"train.steps={steps}", *overrides])
    run_dir = out / recipe
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    train(cfg, run_dir)
    seconds = time.perf_counter() - start
    embedder = get_embedder(str(run_dir), pooling=cfg.eval.pooling)
    result = evaluate_tatoeba(embedder, cfg.data.langs)
    result["model"] = f"{recipe} ({steps} steps, {seconds:.0f} s)"
    write_json(result, run_dir / "tatoeba.json")
    return result


class PivotLanguage:
    """Encode every sentence with the pivot's language id: shows how much the language embeddings alone
    pull the two sides apart (only meaningful for recipes with language embeddings)."""

    def __init__(self, embedder, pivot: str = "eng") -> None:
        self.embedder, self.pivot, self.name = embedder, pivot, f"{embedder.name} (pivot lang id)"

    def encode(self, sentences: list[str], lang: str):
        return self.embedder.encode(sentences, self.pivot)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--recipes", default="xlm,xlmr")
    p.add_argument("overrides", nargs="*", help="a.b=value applied to both recipes")
    a = p.parse_args()
    out = Path(a.out)
    recipes = a.recipes.split(",")
    results = [run(r, a.steps, out, a.overrides) for r in recipes]
    extra = []
    if "xlm" in recipes:
        extra = [evaluate_tatoeba(PivotLanguage(get_embedder(str(out / "xlm"))), list(results[0]["langs"]))]
        extra[0]["model"] = "xlm, one lang id"
        write_json(extra[0], out / "xlm" / "tatoeba-pivot-lang-id.json")
    print(format_table(results + extra))
    plot_per_language(results, out / "tatoeba.png")
    means = [r["average"]["mean"] for r in results]
    print(" ".join(f"{r}_mean={m:.2f}" for r, m in zip(recipes, means)) + f" delta={means[0] - means[-1]:.2f}")


if __name__ == "__main__":
    main()
