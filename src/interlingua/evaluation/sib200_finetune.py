"""SIB-200 ``--finetune``: the benchmark's XLM-R baseline on any interlingua-loaded encoder.

logits = W · pool(encoder(x)) + b, with cross-entropy on English train only; AdamW at lr 1e-5, batch 32,
inputs cut to 164 tokens, the learning rate decaying linearly to 0 over ``steps`` (the transformers
Trainer's default schedule, which the benchmark's script uses). English dev accuracy is measured every
``eval_every`` steps and at the end; the weights of the best (the earliest among ties) are kept and score
every language. The benchmark trains for epochs on a GPU; ``steps`` is a budget so a CPU run stays short.

The encoder trained is a ``copy.deepcopy`` of :attr:`SentenceEncoder.module`: the cached encoder that
other callers share (``load_encoder``'s LRU) is never modified. int8-quantised encoders cannot be trained;
``interlingua eval`` loads fp32.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from interlingua.data.langcodes import to_iso3
from interlingua.encoding import SentenceEncoder, forward_of, pad_batch, token_budget_batches
from interlingua.errors import ConfigError
from interlingua.models.encoder import pool


@dataclass
class FinetuneConfig:
    steps: int = 200
    """optimiser steps (``--steps``)"""
    eval_every: int = 50
    """English dev accuracy every N steps (``--eval-every``); the last step is always measured"""
    lr: float = 1e-5
    """AdamW peak learning rate (``--lr``), decayed linearly to 0"""
    batch_size: int = 32
    max_length: int = 164
    """tokens per input, special tokens included"""
    seed: int = 0

    def __post_init__(self) -> None:
        for flag, value in (("--steps", self.steps), ("--eval-every", self.eval_every)):
            if value < 1:
                raise ConfigError(f"sib200 {flag} must be positive, got {value}")
        if self.lr <= 0:
            raise ConfigError(f"sib200 --lr must be positive, got {self.lr}")


class Classifier(nn.Module):
    """A copy of an encoder's module, its pooling and a linear head: (B, T) ids, (B, T) mask -> (B, C) logits."""

    def __init__(self, encoder: SentenceEncoder, n_labels: int, pooling: str) -> None:
        super().__init__()
        self.body = copy.deepcopy(encoder.module)
        self._forward = forward_of(self.body)  # encoder.forward runs the original module
        self.head = nn.Linear(encoder.dim, n_labels)
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, row: int | None) -> torch.Tensor:
        hidden = self._forward(input_ids, mask, row).float()  # (B, T, D)
        return self.head(pool(hidden, mask, self.pooling))  # (B, C)


@dataclass
class Finetuned:
    model: Classifier
    step: int  # the step whose weights were kept
    dev_accuracy: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, English dev accuracy %)


def _encoder_of(embedder: object) -> tuple[SentenceEncoder, dict]:
    """(SentenceEncoder, its bound embed options) of a ``BoundEncoder`` or a bare ``SentenceEncoder``."""
    enc, options = getattr(embedder, "encoder", embedder), getattr(embedder, "options", {})
    if not isinstance(enc, SentenceEncoder):
        name = getattr(embedder, "name", type(embedder).__name__)
        raise ConfigError(f"sib200 --finetune needs a transformer encoder (a run folder, a Hugging Face folder, "
                          f"baseline:me5-small); {name} has no weights to train: use --probe")
    if enc.quantized:
        raise ConfigError(f"sib200 --finetune: {enc.name} is int8-quantised; load it with quantize=False")
    return enc, options


def _token_ids(enc: SentenceEncoder, texts: list[str], prefix: str, max_length: int) -> list[list[int]]:
    """Token ids cut to ``max_length``, keeping the final (end-of-sentence) token."""
    ids = enc.tokenize([prefix + t for t in texts])
    return [x if len(x) <= max_length else x[: max_length - 1] + x[-1:] for x in ids]


def _batches(n: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Row indices, a fresh shuffle every epoch, endlessly."""
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=g).tolist()
        yield from (order[s : s + batch_size] for s in range(0, n, batch_size))


@torch.no_grad()
def predict(model: Classifier, ids: list[list[int]], pad_id: int, row: int | None, batch_size: int = 64) -> np.ndarray:
    """(N,) predicted label indices, in input order."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    out = np.zeros(len(ids), dtype=np.int64)
    for batch in token_budget_batches([len(x) for x in ids], batch_size):
        input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
        out[batch] = model(input_ids.to(device), mask.to(device), row).argmax(-1).cpu().numpy()
    model.train(was_training)
    return out


def finetune(embedder: object, train_texts: list[str], train_labels: np.ndarray, dev_texts: list[str],
             dev_labels: np.ndarray, n_labels: int, cfg: FinetuneConfig, progress: bool = False) -> Finetuned:
    """Train a :class:`Classifier` on English (``train``), keep the weights best on English ``dev``."""
    enc, options = _encoder_of(embedder)
    prefix, pooling = options.get("prefix", enc.prefix), options.get("pooling") or enc.pooling
    row = enc.lang_row("eng")
    torch.manual_seed(cfg.seed)
    model = Classifier(enc, n_labels, pooling).to(enc.device).train()
    model.requires_grad_(True)
    train_ids, dev_ids = (_token_ids(enc, t, prefix, cfg.max_length) for t in (train_texts, dev_texts))
    y = torch.as_tensor(train_labels, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / cfg.steps)
    best_step, best_acc, state = 0, -1.0, None
    history: list[tuple[int, float]] = []
    batches = _batches(len(train_ids), cfg.batch_size, cfg.seed)
    for step in tqdm(range(1, cfg.steps + 1), desc="sib200 train steps", leave=False, disable=not progress):
        rows = next(batches)
        input_ids, mask = pad_batch([train_ids[i] for i in rows], enc.pad_id)
        logits = model(input_ids.to(enc.device), mask.to(enc.device), row)  # (B, C)
        loss = F.cross_entropy(logits, y[rows].to(enc.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            acc = 100.0 * float(np.mean(predict(model, dev_ids, enc.pad_id, row) == dev_labels))
            history.append((step, acc))
            if acc > best_acc:
                best_step, best_acc = step, acc
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    model.eval()
    return Finetuned(model, best_step, best_acc, history)


def finetune_and_score(embedder: object, train, dev, evaluated: dict, cfg: FinetuneConfig,
                       bar: tqdm) -> tuple[dict[str, float], dict]:
    """Fine-tune on ``train`` / ``dev`` (:class:`~interlingua.evaluation.sib200.SibSplit`), then the accuracy
    (%) of every split in ``evaluated`` and the selection record."""
    from interlingua.evaluation.sib200 import LABELS, accuracy

    enc, options = _encoder_of(embedder)
    done = finetune(embedder, train.texts, train.labels, dev.texts, dev.labels, len(LABELS), cfg,
                    progress=not bar.disable)
    prefix = options.get("prefix", enc.prefix)
    scores = {}
    for code, split in evaluated.items():
        bar.set_postfix_str(code)
        row = enc.lang_row(to_iso3(code) or code)
        scores[code] = accuracy(predict(done.model, _token_ids(enc, split.texts, prefix, cfg.max_length),
                                        enc.pad_id, row), split.labels)
        bar.update()
    return scores, {"step": done.step, "eng_dev_accuracy": done.dev_accuracy, "steps": cfg.steps, "lr": cfg.lr,
                    "history": done.history}
