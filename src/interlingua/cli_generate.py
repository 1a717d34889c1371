"""Subcommands of the generation part: ``translate``, and ``export hf --tgt-lang`` (parse -> build -> run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_translate(a: argparse.Namespace) -> None:
    from interlingua.translation import load_translator

    lines = [line.rstrip("\n") for line in (open(a.input, encoding="utf-8") if a.input else sys.stdin)]
    tr = load_translator(a.model, threads=a.threads)
    out = tr.translate(lines, a.src_lang, a.tgt_lang, beam=a.beam, length_penalty=a.length_penalty,
                       batch_size=a.batch_size, progress=sys.stderr.isatty())
    sys.stdout.write("".join(line + "\n" for line in out))


def export_seq2seq_run(a: argparse.Namespace) -> None:
    """``interlingua export hf RUN OUT --tgt-lang L``: an EncoderDecoderModel folder."""
    from interlingua.io_safety import check_export_dir
    from interlingua.models.hf_seq2seq import export_seq2seq
    from interlingua.models.pretrained import load_run

    check_export_dir(Path(a.out_dir), a.force)  # before loading the model
    model, vocab, _ = load_run(Path(a.run_dir))
    out = export_seq2seq(model, vocab, Path(a.run_dir) / "tokenizer", Path(a.out_dir), a.tgt_lang, force=a.force)
    print(f"wrote {out} (EncoderDecoderModel generating {a.tgt_lang})")


def add_generation_commands(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("translate", help="translate lines with a run trained with dae / xae / bt (stdin -> stdout)")
    t.add_argument("--model", required=True, help="run folder with a decoder")
    t.add_argument("--src-lang", required=True, help="ISO 639-3 code of the input")
    t.add_argument("--tgt-lang", required=True, help="ISO 639-3 code of the output")
    t.add_argument("--beam", type=int, default=1, help="beam size (1 = greedy)")
    t.add_argument("--length-penalty", type=float, default=1.0, help="beam score = log p / length^penalty")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--threads", type=int, help="torch CPU threads")
    t.add_argument("--input", help="a text file instead of stdin")
    t.set_defaults(fn=cmd_translate)
