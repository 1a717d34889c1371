"""``interlingua`` command line: each subcommand parses, builds and runs in a few lines."""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

from interlingua.errors import InterlinguaError


def cmd_train(a: argparse.Namespace) -> None:
    from interlingua.config import load_config
    from interlingua.training.run import train

    cfg = load_config(a.recipe, a.overrides)
    run_dir = Path(a.run_dir or f"runs/{cfg.name}")
    train(cfg, run_dir, resume=a.resume, stop_at=a.stop_at)
    print(f"run folder: {run_dir}")


def cmd_eval(a: argparse.Namespace) -> None:
    from interlingua.evaluation.embedders import get_embedder
    from interlingua.evaluation.report import format_table, plot_per_language, write_json
    from interlingua.evaluation.tasks import evaluate_flores, evaluate_tatoeba

    langs = a.langs.split(",") if a.langs else None
    results = []
    for spec in a.model:
        emb = get_embedder(spec, pooling=a.pooling, batch_size=a.batch_size)
        task = evaluate_tatoeba if a.task == "tatoeba" else evaluate_flores
        results.append(task(emb, langs, max_sentences=a.max_sentences))
    print(format_table(results))
    out = Path(a.out or (a.model[0] if Path(a.model[0]).is_dir() else "runs/eval"))
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        write_json(r, out / f"{a.task}-{_slug(r['model'])}.json")
    plot_per_language(results, out / f"{a.task}.png")
    print(f"wrote {out}/{a.task}.png and JSON results")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def cmd_export(a: argparse.Namespace) -> None:
    if a.format == "hf":
        from interlingua.models.hf import export_hf

        print(f"wrote {export_hf(Path(a.run_dir), Path(a.out_dir))}")


def cmd_tokenizer(a: argparse.Namespace) -> None:
    from interlingua.config import load_config
    from interlingua.data.sources import load_parallel
    from interlingua.tokenization.vocab import train_vocab
    from interlingua.training.run import _texts_by_lang

    cfg = load_config(a.recipe, a.overrides)
    pairs = load_parallel(cfg.data).pairs
    vocab = train_vocab(_texts_by_lang(pairs, cfg.data.pivot), Path(a.out), vocab_size=cfg.data.vocab_size,
                        alpha=cfg.data.alpha, sample_sentences=cfg.data.vocab_sample_sentences)
    print(f"vocabulary of {vocab.size} tokens for {len(vocab.langs)} languages in {a.out}")


def cmd_corpus(a: argparse.Namespace) -> None:
    from interlingua.config import load_config
    from interlingua.data.sources import corpus_stats, load_parallel

    cfg = load_config(a.recipe, a.overrides)
    rows = corpus_stats(load_parallel(cfg.data), cfg.data.alpha)
    print(f"corpus {cfg.data.corpus}, pivot {cfg.data.pivot}, alpha {cfg.data.alpha}")
    print(f"{'lang':<8}{'pairs':>10}{'p(lang)':>10}")
    for r in rows:
        print(f"{r['lang']:<8}{r['pairs']:>10}{r['prob']:>10.4f}")


def cmd_list(a: argparse.Namespace) -> None:
    from interlingua import registry
    from interlingua.config import RECIPES_DIR

    if a.what == "objectives":
        for name in registry.names("objective"):
            doc = inspect.getdoc(inspect.getmodule(registry.get("objective", name).cls)) or ""
            print(f"{name:<8}{doc.splitlines()[0] if doc else ''}")
    else:
        for path in sorted(RECIPES_DIR.glob("*.yaml")):
            first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
            print(f"{path.stem:<8}{first}")


def cmd_demo(a: argparse.Namespace) -> None:
    from interlingua.demo import run_demo

    run_demo(Path(a.out), steps=a.steps, langs=a.langs.split(","))


def _with_overrides(p: argparse.ArgumentParser, recipe_required: bool = False) -> None:
    p.add_argument("--recipe", required=recipe_required, help="recipe name (see `interlingua list recipes`) or YAML path")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. train.lr=3e-4 data.langs=deu,fra")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interlingua", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a recipe")
    _with_overrides(t, recipe_required=True)
    t.add_argument("--run-dir", help="run folder (default runs/<name>)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    t.add_argument("--stop-at", type=int, help="stop after this step (the schedule still assumes train.steps)")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("eval", help="Tatoeba / FLORES retrieval accuracy")
    e.add_argument("task", choices=["tatoeba", "flores"])
    e.add_argument("--model", action="append", required=True, help="run folder, HF folder or baseline:NAME (repeatable)")
    e.add_argument("--langs", help="comma-separated ISO 639-3 codes (default: all)")
    e.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--max-sentences", type=int)
    e.add_argument("--out", help="folder for JSON and PNG (default: the model folder)")
    e.set_defaults(fn=cmd_eval)

    x = sub.add_parser("export", help="export a run folder")
    x.add_argument("format", choices=["hf"])
    x.add_argument("run_dir")
    x.add_argument("out_dir")
    x.set_defaults(fn=cmd_export)

    k = sub.add_parser("tokenizer", help="train a shared vocabulary")
    k.add_argument("action", choices=["train"])
    k.add_argument("--out", required=True)
    _with_overrides(k)
    k.set_defaults(fn=cmd_tokenizer)

    c = sub.add_parser("corpus", help="corpus statistics")
    c.add_argument("action", choices=["stats"])
    _with_overrides(c)
    c.set_defaults(fn=cmd_corpus)

    li = sub.add_parser("list", help="list objectives or recipes")
    li.add_argument("what", choices=["objectives", "recipes"])
    li.set_defaults(fn=cmd_list)

    d = sub.add_parser("demo", help="the embedded-corpus demo: gettext -> vocab -> XLM -> Tatoeba")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--steps", type=int, default=600)
    d.add_argument("--langs", default="deu,fra,spa,ita,por,nld")
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except InterlinguaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
