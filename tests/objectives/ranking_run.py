"""A tiny LaBSE (translation ranking + progressive stacking) run for the 1- vs 2-process equality test.

Run under torchrun it trains and writes the final weights to OUT (argv[1]); rank 0 logs metrics.jsonl
next to it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from interlingua.config import load_config
from interlingua.data.pool import build_pool
from interlingua.models.heads import PretrainModel
from interlingua.training import distributed
from interlingua.training.run import build_objectives
from interlingua.training.trainer import Trainer
from tests.training.tiny_run import PAIRS, tiny_vocab


def make_ranking_trainer(run_dir: Path, *overrides: str) -> Trainer:
    """Mean pooling: at initialisation every [CLS] vector is nearly the same, so the gradients are a
    cancellation of O(1) terms at float32 noise level, which Adam's first steps (g / |g|) blow up to ±lr."""
    cfg = load_config("labse", ["model.d_model=16", "model.n_layers=2", "model.n_heads=2", "model.d_ff=32",
                                "model.dropout=0.0", "model.attn_dropout=0.0", "train.steps=6", "train.batch_size=8",
                                "train.warmup_steps=2", "train.log_every=1", "train.lr=3e-3", "data.langs=deu,fra",
                                "train.stacking=[[0,1],[3,2]]", "objectives.translation_ranking.scale=20",
                                "objectives.translation_ranking.pooling=mean",
                                *overrides])
    d = distributed.init("cpu")
    torch.manual_seed(cfg.train.seed + d.rank)
    vocab = tiny_vocab()
    cfg.model.vocab_size = vocab.size
    objectives = build_objectives(cfg, vocab)
    model = PretrainModel(cfg.model, sorted({h for o in objectives for h in o.heads}))
    pool = build_pool(PAIRS, vocab, pivot="eng", alpha=cfg.data.alpha)
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(cfg, model, objectives, pool, run_dir, d)


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    trainer = make_ranking_trainer(out.parent, *sys.argv[2:])
    trainer.fit()
    if trainer.dist.main:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, str(out))
    distributed.shutdown()
