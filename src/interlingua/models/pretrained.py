"""Load a finished run folder: the model, its vocabulary and config, or a sentence embedder over it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from interlingua.config import RunConfig, _build
from interlingua.errors import CheckpointError
from interlingua.models.encoder import pool
from interlingua.models.heads import PretrainModel
from interlingua.tokenization.vocab import Vocab, load_vocab
from interlingua.training.checkpoint import latest_checkpoint, load_model

RUN_MARKER = "interlingua.json"


def _weights_file(run_dir: Path) -> Path:
    final = run_dir / "model.safetensors"
    if final.exists():
        return final
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        raise CheckpointError(f"{run_dir} has neither model.safetensors nor a checkpoint")
    return ckpt / "model.safetensors"


def _run_info(run_dir: Path) -> dict:
    marker = run_dir / RUN_MARKER
    if not marker.exists():
        raise CheckpointError(f"{run_dir} is not an interlingua run folder (no {RUN_MARKER})")
    return json.loads(marker.read_text(encoding="utf-8"))


def load_run_config(run_dir: Path | str) -> RunConfig:
    return _build(RunConfig, _run_info(Path(run_dir))["config"], "")


def load_run(run_dir: Path | str) -> tuple[PretrainModel, Vocab, RunConfig]:
    run_dir = Path(run_dir)
    info = _run_info(run_dir)
    cfg: RunConfig = _build(RunConfig, info["config"], "")
    vocab = load_vocab(run_dir / "tokenizer")
    vocab.langs, vocab.prefix = info["langs"], cfg.model.text_prefix
    heads = sorted({h for name, ocfg in cfg.objectives.items() for h in _heads_of(name, ocfg, vocab, cfg)})
    model = PretrainModel(cfg.model, heads)
    load_model(model, _weights_file(run_dir))
    return model.eval(), vocab, cfg


def _heads_of(objective: str, ocfg, vocab: Vocab, cfg: RunConfig) -> tuple[str, ...]:
    from interlingua import registry

    # An instance, not the class: some objectives' heads depend on their config (translation_ranking's
    # separate_encoders adds ``tgt_encoder``).
    return registry.get("objective", objective).cls(ocfg, vocab, cfg.data.max_len).heads


class RunEmbedder:
    """Sentence vectors from a run's encoder: ``<s> x </s>``, the language's embedding, CLS or mean pooling."""

    def __init__(self, run_dir: Path | str, pooling: str | None = None, batch_size: int = 64, max_len: int = 128) -> None:
        self.model, self.vocab, self.cfg = load_run(run_dir)
        self.name = Path(run_dir).name
        self.pooling = pooling or self.cfg.eval.pooling  # default: the pooling the run was trained/evaluated with
        self.batch_size, self.max_len = batch_size, max_len

    @torch.no_grad()
    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        from interlingua.data.collate import Segment, pack

        ids = self.vocab.encode(list(sentences))
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length-sorted batches, less padding
        li = self.vocab.lang_index(lang)
        out = np.zeros((len(ids), self.cfg.model.d_model), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            p = pack([[Segment(ids[i], li)] for i in idx], self.vocab, self.max_len)
            hidden = self.model.encoder(p.input_ids, p.attn_mask, p.position_ids, p.lang_ids, p.segment_ids).last_hidden
            out[idx] = pool(hidden, p.attn_mask, self.pooling).numpy()
        return out


def load_run_embedder(path: Path | str, pooling: str | None = None, batch_size: int = 64) -> RunEmbedder:
    return RunEmbedder(path, pooling=pooling, batch_size=batch_size)
