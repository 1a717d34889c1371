"""A tiny, fully deterministic training setup shared by the trainer tests and the torchrun worker.

Run as a script under torchrun it trains and writes the final weights to OUT (argv[1]).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from interlingua.config import load_config
from interlingua.data.pool import build_pool
from interlingua.objectives.base import model_for
from interlingua.tokenization.vocab import SPECIALS, Vocab, lang_tag
from interlingua.training import distributed
from interlingua.training.run import build_objectives
from interlingua.training.trainer import Trainer
from tests.objectives import momentum_queue  # noqa: F401  (registers the worked example objective)

PAIRS = {
    "deu": [("the cat runs", "die katze"), ("the big dog", "der hund"), ("a red house", "das rot haus"),
            ("the blue house sleeps", "das blau haus"), ("a small cat", "die katze rot")],
    "fra": [("the cat", "le chat"), ("the dog runs", "le chien"), ("a house", "la maison"),
            ("the red dog", "le chien rouge"), ("a big blue house", "la maison bleu")],
}


def tiny_vocab() -> Vocab:
    words = sorted({w for ps in PAIRS.values() for p in ps for s in p for w in s.split()})
    langs = ["deu", "eng", "fra"]
    table = {tok: i for i, tok in enumerate(SPECIALS + [lang_tag(l) for l in langs] + words)}
    tok = Tokenizer(models.WordLevel(table, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return Vocab(tok, langs)


def make_trainer(run_dir: Path, *overrides: str, recipe: str = "xlm") -> Trainer:
    cfg = load_config(recipe, ["model.d_model=16", "model.n_layers=2", "model.n_heads=2", "model.d_ff=32",
                              "model.dropout=0.0", "model.attn_dropout=0.0", "train.steps=6", "train.batch_size=8",
                              "train.warmup_steps=2", "train.log_every=1", "data.langs=deu,fra", *overrides])
    d = distributed.init("cpu")
    torch.manual_seed(cfg.train.seed + d.rank)
    vocab = tiny_vocab()
    cfg.model.vocab_size, cfg.model.n_langs = vocab.size, len(vocab.langs)
    objectives = build_objectives(cfg, vocab)
    model = model_for(cfg.model, objectives)  # shared-table heads, then each objective's own
    pool = build_pool(PAIRS, vocab, pivot="eng", alpha=cfg.data.alpha)
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(cfg, model, objectives, pool, run_dir, d)


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    recipe = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2].endswith(".yaml") else "xlm"
    trainer = make_trainer(out.parent / "run", *[a for a in sys.argv[2:] if a != recipe], recipe=recipe)
    trainer.fit()
    if trainer.dist.main:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, str(out))
        if trainer.objective_states():
            save_file({k: v.contiguous() for k, v in trainer.objective_states().items()},
                      str(out.with_suffix(".state.safetensors")))
    distributed.shutdown()
