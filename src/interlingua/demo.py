"""The embedded-corpus demo behind ``make demo``.

gettext catalogs of this machine -> shared vocabulary -> small XLM encoder (MLM + CLM + TLM) -> Tatoeba
retrieval for the trained languages, printed beside the char 3-5-gram TF-IDF baseline, with a loss
curve and a per-language accuracy plot in the run folder.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from interlingua.config import load_config
from interlingua.evaluation.embedders import get_embedder
from interlingua.evaluation.report import format_table, plot_per_language, write_json
from interlingua.evaluation.tasks import evaluate_tatoeba
from interlingua.models.pretrained import load_run_embedder
from interlingua.training.run import train


def run_demo(out: Path, steps: int = 400, langs: list[str] | None = None, recipe: str = "demo") -> dict:
    start = time.perf_counter()
    overrides = [f"train.steps={steps}"] + ([f"data.langs={','.join(langs)}"] if langs else [])
    cfg = load_config(recipe, overrides)
    run_dir = out / recipe
    shutil.rmtree(run_dir, ignore_errors=True)  # the demo always starts fresh
    print(f"[demo] training the '{recipe}' recipe on gettext pairs for {', '.join(cfg.data.langs)} -> {run_dir}")
    train(cfg, run_dir)
    trained = time.perf_counter()
    print(f"[demo] evaluating on Tatoeba ({', '.join(cfg.data.langs)})")
    ours = evaluate_tatoeba(load_run_embedder(run_dir, pooling=cfg.eval.pooling), cfg.data.langs)
    base = evaluate_tatoeba(get_embedder("baseline:char-tfidf"), cfg.data.langs)
    ours["model"] = f"interlingua {recipe} ({steps} steps)"
    print(format_table([ours, base]))
    write_json(ours, run_dir / "tatoeba.json")
    write_json(base, out / "tatoeba-char-tfidf.json")
    plot_per_language([ours, base], out / "tatoeba.png")
    total = time.perf_counter() - start
    print(f"[demo] training {trained - start:.0f} s, total {total:.0f} s; plots: {run_dir / 'loss.png'}, {out / 'tatoeba.png'}")
    return {"ours": ours, "baseline": base, "seconds": total}
