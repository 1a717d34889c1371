"""Quality comparison: the `xlm` recipe (MLM + CLM + TLM) against `xlmr` (MLM only) at equal steps and data.

Both runs read the same gettext pairs for the same languages and train for the same number of steps with
the same model size and batch; each keeps its own recipe's vocabulary size, α and language embeddings.
Tatoeba top-1 retrieval (mean pooling, both directions) is measured for every trained language.

    python benchmarks/xlm_vs_xlmr.py --steps 1500 --out runs/xlm_vs_xlmr [key=value overrides for both]

Last line: ``xlm_mean=X.XX xlmr_mean=Y.YY delta=Z.ZZ``.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from interlingua.config import load_config
from interlingua.evaluation.report import format_table, plot_per_language, write_json
from interlingua.evaluation.tasks import evaluate_tatoeba
from interlingua.models.pretrained import load_run_embedder
from interlingua.training.run import train


def run(recipe: str, steps: int, out: Path, overrides: list[str]) -> dict:
    cfg = load_config(recipe, [f"train.steps={steps}", *overrides])
    run_dir = out / recipe
    shutil.rmtree(run_dir, ignore_errors=True)
    train(cfg, run_dir)
    embedder = load_run_embedder(run_dir, pooling=cfg.eval.pooling)
    result = evaluate_tatoeba(embedder, cfg.data.langs)
    result["model"] = f"{recipe} ({steps} steps)"
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
    p.add_argument("--out", default="runs/xlm_vs_xlmr")
    p.add_argument("overrides", nargs="*", help="a.b=value applied to both recipes")
    a = p.parse_args()
    out = Path(a.out)
    results = [run(r, a.steps, out, a.overrides) for r in ("xlm", "xlmr")]
    langs = list(results[0]["langs"])
    pivot_ids = evaluate_tatoeba(PivotLanguage(load_run_embedder(out / "xlm")), langs)
    pivot_ids["model"] = "xlm, one lang id"
    write_json(pivot_ids, out / "xlm" / "tatoeba-pivot-lang-id.json")
    print(format_table(results + [pivot_ids]))
    plot_per_language(results, out / "tatoeba.png")
    xlm, xlmr = (r["average"]["mean"] for r in results)
    print(f"xlm_mean={xlm:.2f} xlmr_mean={xlmr:.2f} delta={xlm - xlmr:.2f}")


if __name__ == "__main__":
    main()
