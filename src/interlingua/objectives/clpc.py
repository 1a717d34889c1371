"""CLPC, Unicoder's cross-lingual paraphrase classification: is y′ the translation of x?

Half the pairs are true translations, half hard negatives.

    y′ = y                                         (label 1)
    y′ = argmax_{c ∈ C, c ≠ y} cos(v(x), v(c))     (label 0; ``negatives: random`` takes a random c)
    L = −Σ log softmax(W·tanh(P·h_[CLS](<s> x </s> y′ </s>)))_label

C: ``candidates`` pivot sentences drawn for the step (the same on every process, kept whole when the batch
is sliced); v: the current model's mean-pooled sentence vectors, computed without gradient and in eval mode
(no dropout), so the mining is identical on every process. Where this file chose: candidates are drawn
afresh every step; the encoder that mines them is the current model (``refresh_every: 1``, the default: no
copy), a frozen snapshot of it taken every N optimizer steps (``refresh_every: N``, checkpointed as the
objective's state), or the start model, never refreshed (``refresh_every: 0``: a fixed miner, e.g. me5-small
when training from it). A fixed encoder of another vocabulary, loaded by path, is not implemented: candidates
are token ids of the run's vocabulary. The label is drawn per pair; the classifier is
the head ``clpc`` (a BERT pooler and a 2-way linear layer). Segments as TLM: positions restart for y′.
Inputs: translation pairs, monolingual pivot sentences. Related: ``nsp`` (same head shape), ``translation_ranking``.
Reference: Huang et al. 2019, Unicoder (EMNLP).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.data.collate import Segment, pack
from interlingua.data.pair_batches import PairBatch, draw_shared
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.models.encoder import ema_update, eval_mode, momentum_copy
from interlingua.models.heads import SentencePairHead
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.nsp import nsp_loss_sum
from interlingua.objectives.translation_ranking import embed, sample_pair_batch
from interlingua.registry import register


@dataclass
class CLPCConfig(ObjectiveConfig):
    negatives: str = "hard"
    """``hard`` (most similar candidate that is not the translation) or ``random``."""
    candidates: int = 64
    """Pivot sentences C mined for the step's negatives."""
    refresh_every: int = 1
    """Mine with the current model (1), a snapshot refreshed every N optimizer steps (N), or the start model (0)."""

    def __post_init__(self) -> None:
        if self.refresh_every < 0:
            raise ConfigError(f"objectives.clpc.refresh_every must be >= 0 (0: never), got {self.refresh_every}")
        if self.negatives not in ("hard", "random"):
            raise ConfigError(f"objectives.clpc.negatives must be 'hard' or 'random', got {self.negatives!r}")
        if self.candidates < 2:
            raise ConfigError(f"objectives.clpc.candidates must be at least 2, got {self.candidates}")


def hardest(x: torch.Tensor, c: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """(B, D) and (C, D) unit vectors, (B, C) bool candidates that are the row's translation -> (B,) index of
    the most similar other candidate."""
    return (x @ c.T).masked_fill(same, float("-inf")).argmax(-1)


@dataclass
class CLPCBatch(PairBatch):
    """Pairs (labels: 1 = keep the translation), the step's candidates (``shared``) and, for random negatives,
    each row's drawn candidate (``drawn``, (B,))."""

    drawn: torch.Tensor | None = None


def real_ids(side, b: int) -> list[int]:
    """Row b's tokens without specials and padding."""
    return side.input_ids[b][side.word_ids[b] >= 0].tolist()


@register("objective", "clpc", CLPCConfig)
class CLPC(Objective):
    name = "clpc"
    needs = ("pairs",)
    splittable = False  # the candidates belong to the whole batch

    def build_heads(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"clpc": SentencePairHead(model.cfg, 2)}

    def build_state(self, model: nn.Module) -> nn.Module | None:
        """The miner's snapshot of the encoder, unless the current model mines (``refresh_every: 1``)."""
        if self.cfg.refresh_every == 1 or self.cfg.negatives == "random":
            return None
        return momentum_copy(model.encoder).eval()

    def after_step(self, model: nn.Module, step: int) -> None:
        if self.state is not None and self.cfg.refresh_every and step % self.cfg.refresh_every == 0:
            ema_update(self.state, model.encoder, 0.0)  # momentum 0: an exact copy of the updated encoder

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> CLPCBatch:
        batch = CLPCBatch(**vars(sample_pair_batch(pool, n, gen, self.vocab, self.max_len)))
        batch.labels = (torch.rand(n, generator=gen) < 0.5).long()  # 1: the true translation
        table = pool.mono[pool.pivot]
        batch.shared, batch.shared_key = draw_shared(table, self.cfg.candidates, self.vocab.lang_index(pool.pivot),
                                                     gen, self.vocab, self.max_len)
        same = batch.tgt_key[:, None] == batch.shared_key[None]  # (B, C)
        batch.drawn = torch.rand(same.shape, generator=gen).masked_fill(same, -1.0).argmax(-1)  # (B,)
        return batch

    def _negatives(self, model: nn.Module, batch: CLPCBatch) -> torch.Tensor:
        if self.cfg.negatives == "random":
            return batch.drawn
        same = batch.tgt_key[:, None] == batch.shared_key[None]  # (B, C)
        miner = model.encoder if self.state is None else self.state
        with eval_mode(miner), torch.no_grad():
            x = F.normalize(embed(miner, batch.src, "mean").float(), dim=-1)  # (B, D)
            c = F.normalize(embed(miner, batch.shared, "mean").float(), dim=-1)  # (C, D)
        return hardest(x, c, same)

    def __call__(self, model: nn.Module, batch: CLPCBatch) -> LossOut:
        pick = self._negatives(model, batch).tolist()
        rows = []
        for b, label in enumerate(batch.labels.tolist()):
            side, r = (batch.tgt, b) if label == 1 else (batch.shared, pick[b])  # y′: translation or negative
            rows.append([Segment(real_ids(batch.src, b), int(batch.src.lang_ids[b, 1])),
                         Segment(real_ids(side, r), int(side.lang_ids[r, 1]))])
        p = pack(rows, self.vocab, 2 * self.max_len, reset_positions=True)
        inputs = {"input_ids": p.input_ids, "attn_mask": p.attn_mask, "position_ids": p.position_ids,
                  "lang_ids": p.lang_ids, "segment_ids": p.segment_ids}
        device = batch.labels.device
        hidden = model.encoder(**{k: v.to(device) for k, v in inputs.items()}).last_hidden  # (B, T, D)
        loss, correct = nsp_loss_sum(model.head("clpc")(hidden[:, 0]), batch.labels)
        n = len(batch)
        return loss, n, {"train/clpc/loss_sum": float(loss.detach()), "train/clpc/correct": float(correct),
                         "train/clpc/n": n}
