"""Load a finished run folder: the model, its vocabulary and config.

Sentence vectors of a run come from :func:`interlingua.encoding.load_encoder`, which builds on :func:`load_run`.
"""
from __future__ import annotations

import json
from pathlib import Path

from interlingua.config import RunConfig, _build
from interlingua.errors import CheckpointError
from interlingua.models.heads import PretrainModel
from interlingua.tokenization.vocab import Vocab, load_vocab
from interlingua.weights import latest_checkpoint, load_model

RUN_MARKER = "interlingua.json"


def weights_file(run_dir: Path) -> Path:
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


def run_langs(run_dir: Path | str) -> list[str]:
    """The rows of a run's language table."""
    return list(_run_info(Path(run_dir))["langs"])


def load_run_config(run_dir: Path | str) -> RunConfig:
    return _build(RunConfig, _run_info(Path(run_dir))["config"], "")


def load_run(run_dir: Path | str) -> tuple[PretrainModel, Vocab, RunConfig]:
    run_dir = Path(run_dir)
    info = _run_info(run_dir)
    cfg: RunConfig = _build(RunConfig, info["config"], "")
    vocab = load_vocab(run_dir / "tokenizer")
    vocab.langs, vocab.prefix = info["langs"], cfg.model.text_prefix
    model = _model_of(cfg, vocab)
    load_model(model, weights_file(run_dir))
    return model.eval(), vocab, cfg


def _model_of(cfg: RunConfig, vocab: Vocab) -> PretrainModel:
    from interlingua import registry
    from interlingua.objectives.base import model_for

    # Instances, not classes: some objectives' heads depend on their config (translation_ranking's
    # separate_encoders adds ``tgt_encoder``), and objectives may build heads of their own.
    objectives = [registry.get("objective", name).cls(ocfg, vocab, cfg.data.max_len)
                  for name, ocfg in cfg.objectives.items()]
    return model_for(cfg.model, objectives)
