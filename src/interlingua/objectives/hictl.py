"""HICTL, hierarchical contrastive learning: sentence and word-level contrast with hard negatives.

Sentence-level InfoNCE with interpolated hard negatives, plus a word-level contrast of a pair's [CLS] state
against the vocabulary.

Sentence level (x, y L2-normalised sentence vectors of a translation pair; candidates the global batch):

    d⁺ = ‖y_i − x_i‖,  d⁻_j = ‖y_j − x_i‖,  λ_ij = (d⁺ / d⁻_j)^{ζ·p̄}
    ĥ_ij = x_i + λ_ij (y_j − x_i)   for every negative with d⁻_j > d⁺ (it moves toward the anchor)
    L_s(x_i) = −log e^{s x_iᵀy_i} / (e^{s x_iᵀy_i} + Σ_{j≠i} e^{s x_iᵀĥ_ij})     (+ the y → x direction)

p̄ is the mean over the last ``window`` steps of the positive's probability e^{−L_s(x_i)}, averaged over the
global batch's anchors and both directions, kept as state (checkpointed); ζ ∈ (0, 1). At the start p̄ = 0,
λ = 1 and nothing is interpolated; as the model gets the positives right, negatives move closer. λ carries
no gradient.

Word level (c: the last layer's [CLS] state of ``<s> x </s> y </s>``; e_v: the output (tied input)
embedding of token v; all normalised, scale s_w):

    L_w = −(1/|P|) Σ_{p∈P} log e^{s_w cᵀe_p} / (e^{s_w cᵀe_p} + Σ_{n∈N} e^{s_w cᵀe_n})

P: the distinct tokens of the pair; N: ``word_negatives`` tokens not in it, drawn without replacement with
probability ∝ e^{s_w cᵀe_v} (hard negatives: Gumbel top-k over the vocabulary, one seeded generator per row
of the global batch, so draws repeat on resume and depend neither on the process count nor on grad_accum).
L = L_s + L_w per pair; one item per pair. The sentence level reuses translation ranking's core with
per-anchor candidates.
Reference: Wei et al. 2021, On Learning Universal Representations Across Languages (ICLR).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.data.batches import IGNORE, RowBatch
from interlingua.data.collate import pack
from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.models.encoder import pool as pool_hidden
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.tlm import concatenate
from interlingua.objectives.translation_ranking import (
    embed, gather_rows, in_batch_candidates, pair_batch, ranking_loss_sum,
)
from interlingua.registry import register


@dataclass
class HICTLConfig(ObjectiveConfig):
    zeta: float = 0.5
    window: int = 100
    scale: float = 20.0
    """Sentence-level logit scale s (1/τ) on cosines."""
    pooling: str = "cls"
    bidirectional: bool = True
    word_negatives: int = 64
    word_scale: float = 10.0
    word_weight: float = 1.0
    """Multiplies L_w (0: sentence level only)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.zeta < 1.0:
            raise ConfigError(f"objectives.hictl.zeta must lie in (0, 1), got {self.zeta}")
        if self.window < 1 or self.word_negatives < 1 or self.scale <= 0 or self.word_scale <= 0:
            raise ConfigError("objectives.hictl: window and word_negatives must be >= 1, scale and word_scale > 0")
        if self.pooling not in ("cls", "mean"):
            raise ConfigError(f"objectives.hictl.pooling must be 'cls' or 'mean', got {self.pooling!r}")


def interpolate_negatives(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, power: float) -> torch.Tensor:
    """(B, D) anchors, (C, D) candidates, (B,) positive columns, ζ·p̄ -> (B, C, D) candidates per anchor, the
    negatives farther than the positive moved toward the anchor by λ = (d⁺/d⁻)^power (no gradient in λ)."""
    diff = y[None] - x[:, None]  # (B, C, D): y_j − x_i
    with torch.no_grad():
        d = diff.norm(dim=-1)  # (B, C)
        d_pos = d.gather(1, labels[:, None])  # (B, 1)
        lam = torch.where(d > d_pos, (d_pos / d.clamp_min(1e-12)) ** power, torch.ones_like(d))  # (B, C)
    return x[:, None] + lam[..., None] * diff


def sentence_loss_sum(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, scale: float, power: float,
                      dup: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, D) anchors, (C, D) candidates -> (Σ_i L_s, correct count, (B,) e^{−L_s} per anchor)."""
    cand = interpolate_negatives(x, y, labels, power)  # (B, C, D)
    losses, correct = ranking_loss_sum(x, cand, labels, 0.0, scale, dup, reduction="none")  # (B,)
    return losses.sum(), correct, torch.exp(-losses.detach())


def word_loss_sum(c: torch.Tensor, emb: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                  scale: float) -> torch.Tensor:
    """(B, D) anchors, (V, D) output embeddings, (B, P) positive token ids (-1 = padding), (B, K) negatives
    -> Σ_b L_w: each positive against the row's negatives, averaged over the row's positives."""
    c = F.normalize(c.float(), dim=-1)
    pos = torch.einsum("bd,bpd->bp", c, F.normalize(emb[positives.clamp_min(0)].float(), dim=-1)) * scale  # (B, P)
    neg = torch.einsum("bd,bkd->bk", c, F.normalize(emb[negatives].float(), dim=-1)) * scale  # (B, K)
    denom = torch.logaddexp(pos, torch.logsumexp(neg, -1, keepdim=True))  # (B, P)
    valid = positives >= 0
    per_row = ((denom - pos) * valid).sum(1) / valid.sum(1).clamp_min(1)  # (B,)
    return per_row.sum()


def hard_vocab_negatives(c: torch.Tensor, emb: torch.Tensor, exclude: torch.Tensor, k: int, scale: float,
                         seeds: list[int]) -> torch.Tensor:
    """(B, D), (V, D), (B, V) bool tokens never drawn -> (B, k) token ids drawn without replacement with
    probability ∝ e^{scale·cos(c, e_v)}: Gumbel top-k, row b's noise from its own generator ``seeds[b]``."""
    with torch.no_grad():
        norms = emb.float().norm(dim=-1).clamp_min(1e-12)  # (V,): cosines without a normalised copy of emb
        logits = scale * (F.normalize(c.float(), dim=-1) @ emb.float().T) / norms  # (B, V)
        noise = torch.stack([torch.rand(emb.shape[0], generator=torch.Generator().manual_seed(s)) for s in seeds])
        gumbel = -torch.log(-torch.log(noise.clamp(1e-20, 1 - 1e-7))).to(logits.device)  # (B, V)
        return (logits + gumbel).masked_fill(exclude, float("-inf")).topk(k, dim=-1).indices


class HICTLState(nn.Module):
    """The positive's probability of the last ``window`` steps (newest last), for p̄."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.register_buffer("history", torch.zeros(window, dtype=torch.float64))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def mean(self) -> float:
        n = int(self.filled)
        return float(self.history[-n:].mean()) if n else 0.0

    def push(self, value: float) -> None:
        self.history.copy_(torch.cat([self.history[1:], self.history.new_tensor([value])]))
        self.filled.fill_(min(int(self.filled) + 1, len(self.history)))


@dataclass
class HICTLBatch:
    """The same pairs twice: encoded side by side (sentence level) and concatenated (word level)."""

    pairs: PairBatch
    joined: RowBatch

    @property
    def num_items(self) -> int:
        return len(self)

    def slice(self, start: int, stop: int) -> "HICTLBatch":
        return HICTLBatch(self.pairs.slice(start, stop), self.joined.slice(start, stop))

    def to(self, device) -> "HICTLBatch":
        return HICTLBatch(self.pairs.to(device), self.joined.to(device))

    def __len__(self) -> int:
        return len(self.pairs)


@register("objective", "hictl", HICTLConfig)
class HICTL(Objective):
    name = "hictl"
    needs = ("pairs",)
    splittable = False  # in-batch candidates couple the rows

    def build_state(self, model: nn.Module) -> nn.Module:
        self.pending: list[torch.Tensor] = []
        return HICTLState(self.cfg.window)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> HICTLBatch:
        drawn = pool.sample_pairs(n, gen)
        p = pack(concatenate(drawn, pool.pivot, gen, self.vocab), self.vocab, self.max_len, reset_positions=True)
        seed = int(torch.randint(2**62, (1,), generator=gen))
        joined = RowBatch(p.input_ids, p.attn_mask, torch.full_like(p.input_ids, IGNORE), p.position_ids,
                          p.lang_ids, p.segment_ids, p.word_ids, row_ids=torch.arange(n), seed=seed)
        return HICTLBatch(pair_batch(drawn, pool.pivot, self.vocab, self.max_len), joined)

    def _sentence(self, model: nn.Module, batch: PairBatch) -> tuple[torch.Tensor, float]:
        x = F.normalize(embed(model.encoder, batch.src, self.cfg.pooling).float(), dim=-1)  # (B, D)
        y = F.normalize(embed(model.encoder, batch.tgt, self.cfg.pooling).float(), dim=-1)
        all_x, all_y, labels, dup = in_batch_candidates(x, y, batch)  # (C, D), (C, D), (B,), (B, C)
        power = self.cfg.zeta * self.state.mean()
        loss, correct, prob = sentence_loss_sum(x, all_y, labels, self.cfg.scale, power, dup)
        if self.cfg.bidirectional:
            back, back_correct, back_prob = sentence_loss_sum(y, all_x, labels, self.cfg.scale, power, dup)
            loss, correct, prob = loss + back, (correct + back_correct) / 2, (prob + back_prob) / 2
        self.pending.append(gather_rows(prob)[0])  # (W·B,): every process keeps the same p̄
        return loss, float(correct)

    def _word(self, model: nn.Module, batch: RowBatch) -> torch.Tensor:
        c = pool_hidden(model.encoder(**batch.encoder_inputs()).last_hidden, batch.attn_mask, "cls")  # (B, D)
        emb = model.encoder.embeddings.word.weight  # (V, D)
        real = torch.where(batch.word_ids >= 0, batch.input_ids, -1)  # (B, T)
        positives = torch.stack([F.pad(r[r >= 0].unique(), (0, real.shape[1]), value=-1)[:real.shape[1]]
                                 for r in real])  # (B, T): distinct tokens, -1 after them
        exclude = torch.zeros(len(batch), emb.shape[0], dtype=torch.bool, device=c.device)  # (B, V)
        exclude.scatter_(1, positives.clamp_min(0), positives >= 0)
        exclude[:, torch.tensor(self.vocab.special_ids, device=c.device)] = True
        seeds = [(batch.seed + int(r)) % 2**62 for r in batch.row_ids]  # per row of the global batch
        negatives = hard_vocab_negatives(c, emb, exclude, self.cfg.word_negatives, self.cfg.word_scale, seeds)
        return word_loss_sum(c, emb, positives, negatives, self.cfg.word_scale)

    def __call__(self, model: nn.Module, batch: HICTLBatch) -> LossOut:
        sent, correct = self._sentence(model, batch.pairs)
        word = self._word(model, batch.joined) if self.cfg.word_weight else sent.new_zeros(())
        loss, n = sent + self.cfg.word_weight * word, len(batch)
        return loss, n, {"train/hictl/loss_sum": float(loss.detach()), "train/hictl/sentence_sum": float(sent.detach()),
                         "train/hictl/word_sum": float(word.detach()), "train/hictl/correct": correct,
                         "train/hictl/n": n}

    def reduce_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums.get("train/hictl/n", 0.0), 1.0)
        out = {f"train/hictl/{k}": sums.get(f"train/hictl/{k}_sum", 0.0) / n for k in ("loss", "sentence", "word")}
        out["train/hictl/acc"] = sums.get("train/hictl/correct", 0.0) / n
        return {**out, "train/hictl/p_bar": self.state.mean()}

    def skip_step(self) -> None:
        self.pending = []

    def after_step(self, model: nn.Module, step: int) -> None:
        if self.pending:
            self.state.push(float(torch.cat(self.pending).mean()))
        self.pending = []
