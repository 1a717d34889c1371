"""Translation ranking with an additive-margin softmax over in-batch candidates (LaBSE).

    φ(x, y) = xᵀy,   x = ‖f(src)‖₂-normalised, y = ‖g(tgt)‖₂-normalised
    L(x→y) = - Σ_i log e^{s(φ(x_i,y_i) - m)} / (e^{s(φ(x_i,y_i) - m)} + Σ_{j≠i, j∉D_i} e^{s φ(x_i,y_j)})
    L = L(x→y) + L(y→x)          (``bidirectional``; the second term swaps the roles of x and y)

``ranking_loss_sum`` can add extra negatives E to every query's denominator (+ Σ_{e∈E} e^{s φ(x_i,e)}): the
queue of a momentum objective, interpolated or monolingual negatives; this objective passes none.

The candidates y_j are every target of the *global* batch: under ``torchrun`` each process encodes its own
rows and all-gathers the embeddings with gradients (``gather``), so process r's query i has its positive at
column r·B_local + i. The margin m is subtracted from the positive only. D_i holds the rows that are the
same pair in disguise: a source equal to x_i's or a target equal to y_i's text (gettext's multi-way
parallel data repeats English sentences), which are not negatives and are masked out.

Normalisation: the loss is summed over this process's rows; the item count is the number of rows, so the
logged ``train/translation_ranking/loss`` is L(x→y) + L(y→x) per pair as in LaBSE, and ``acc`` the
mean of both directions' accuracy@1. With W processes the trainer scales each process's sum by W/N and
DDP averages gradients over W; the all_gather backward *sums* the gradients every process sends to a
row's embedding, so each rank's gradient is W/N · ∂(Σ_r loss_r)/∂θ through its own rows, and the average is
exactly ∂(L/N)/∂θ of one process holding the whole batch. Gradient accumulation is not exact for this
objective: negatives then come from the micro-batch (G / grad_accum rows over all processes).

f = g = the shared ``encoder``; ``separate_encoders`` encodes targets with a second encoder (head
``tgt_encoder``). Pooling: ``cls`` (LaBSE) or ``mean``. Defaults follow TF Model Garden's LaBSE config
(margin 0.3, scale 100, bidirectional); sentence-transformers' MultipleNegativesRankingLoss is m = 0,
s = 20, one direction.
Inputs: translation pairs (x in a data language, y in the pivot), sampled with p_lang ∝ n^α.
Related: ``qa_ranking`` (the same loss on question → answer), ``nli``.
Reference: Feng et al. 2022, Language-agnostic BERT Sentence Embedding; Yang et al. 2019, Improving
Multilingual Sentence Embedding using Bi-directional Dual Encoder with Additive Margin Softmax.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from interlingua.data.batches import TokenBatch
from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.models.encoder import pool
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.registry import register


@dataclass
class TranslationRankingConfig(ObjectiveConfig):
    margin: float = 0.3
    """Additive margin m subtracted from the positive's cosine (LaBSE: 0.3)."""
    scale: float = 100.0
    """Logit scale s (TF Model Garden LaBSE: 100; sentence-transformers: 20)."""
    pooling: str = "cls"
    """Sentence vector: ``cls`` (the <s> state, LaBSE) or ``mean`` over real tokens."""
    bidirectional: bool = True
    """Add L(y→x) to L(x→y)."""
    gather: bool = True
    """Use every process's targets as negatives (all_gather with gradients) under torchrun."""
    separate_encoders: bool = False
    """Encode targets with a second encoder (head ``tgt_encoder``) instead of the shared one."""

    def __post_init__(self) -> None:
        check_ranking_config(self, "translation_ranking")


def check_ranking_config(cfg: Any, name: str) -> None:
    if cfg.pooling not in ("cls", "mean"):
        raise ConfigError(f"objectives.{name}.pooling must be 'cls' or 'mean', got {cfg.pooling!r}")
    if cfg.scale <= 0:
        raise ConfigError(f"objectives.{name}.scale must be positive, got {cfg.scale}")


def ranking_loss_sum(src_emb: torch.Tensor, tgt_emb: torch.Tensor, labels: torch.Tensor, margin: float,
                     scale: float, dup_mask: torch.Tensor | None = None,
                     extra: torch.Tensor | None = None, reduction: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """One direction. (Q, D) queries, (C, D) candidates, (Q,) column of each query's positive, (Q, C) bool
    candidates to exclude -> (Σ_q cross-entropy of s·(φ - m·[j = label]), count of argmax φ = label).

    Candidates may also be given per query, (Q, C, D) (HICTL's interpolated negatives differ by anchor).
    ``extra`` (E, D): further negatives for every query, after the C candidates (a queue of past keys, or
    monolingual sentences): never a positive, never masked. ``reduction="none"``: (Q,) losses instead of the sum.
    The one ranking softmax of the contrastive objectives."""
    q = src_emb.float()
    sim = torch.einsum("qd,qcd->qc", q, tgt_emb.float()) if tgt_emb.dim() == 3 else q @ tgt_emb.float().T  # (Q, C)
    if extra is not None:
        sim = torch.cat([sim, q @ extra.float().T], dim=1)  # (Q, C + E)
    positive = F.one_hot(labels, sim.shape[1]).to(sim.dtype)  # (Q, C + E)
    logits = scale * (sim - margin * positive)
    if dup_mask is not None:
        if extra is not None:  # (Q, C) -> (Q, C + E): extra negatives are never duplicates
            dup_mask = F.pad(dup_mask, (0, len(extra)), value=False)
        logits = logits.masked_fill(dup_mask, float("-inf"))
        sim = sim.masked_fill(dup_mask, float("-inf"))
    return F.cross_entropy(logits, labels, reduction=reduction), (sim.argmax(-1) == labels).sum()


def gather_rows(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B, ...) local rows -> (W·B, ...) every process's rows in rank order, and this process's first row.

    Gradients flow back to the process that owns a row (the all_gather backward sums over processes).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t, 0
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(t.contiguous())), dist.get_rank() * t.shape[0]


def embed(encoder: torch.nn.Module, batch: TokenBatch, pooling: str, max_tokens: int = 256,
          layer: int | None = None) -> torch.Tensor:
    """Encode and pool one side -> (B, D) sentence vectors (not normalised); ``layer`` K pools hidden state K
    (0 = the embedding output) instead of the last layer's.

    Each row's vector depends on that row alone, so rows are encoded in length-sorted chunks of at most
    ``max_tokens`` padded tokens, each trimmed to its longest row, and put back in order: the same vectors
    (and gradients) as one padded pass, without the compute spent on padding. Sentence lengths in bitext
    vary from 2 to 60+ tokens, so one padded pass wastes most of its work. The 256-token default was measured
    on me5-small, 32 gettext sentences (mean 15 tokens, max 32), forward + backward on 2 cores: 0.91 s in
    one pass, 0.66 s at 512, 0.62 s at 256, 0.66 s at 128.
    """
    order = torch.argsort(batch.lengths(), stable=True)
    chunks, start, lengths = [], 0, batch.lengths()[order].tolist()
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop + 1 - start) * lengths[stop] <= max_tokens:
            stop += 1
        sub = batch.select(order[start:stop]).trim()
        out = encoder(**sub.encoder_inputs(), output_hidden_states=layer is not None)
        hidden = out.last_hidden if layer is None else out.hidden_states[layer]  # (b, t, D)
        chunks.append(pool(hidden, sub.attn_mask, pooling))  # (b, D)
        start = stop
    return torch.cat(chunks)[torch.argsort(order)]  # (B, D), original row order


def sample_pair_batch(pool: Pool, n: int, gen: torch.Generator, vocab, max_len: int) -> PairBatch:
    """n translation pairs drawn with p_lang ∝ n^α: sources in their data language, targets in the pivot."""
    return pair_batch(pool.sample_pairs(n, gen), pool.pivot, vocab, max_len)


def pair_batch(drawn: list, pivot: str, vocab, max_len: int) -> PairBatch:
    """Drawn pairs ``(lang, (pivot ids, lang ids))`` -> a PairBatch, sources in their language, targets pivot."""
    piv = vocab.lang_index(pivot)
    src = [(x_ids, vocab.lang_index(lang)) for lang, (_, x_ids) in drawn]
    tgt = [(p_ids, piv) for _, (p_ids, _) in drawn]
    return PairBatch.build(src, tgt, vocab, max_len)


def in_batch_candidates(x: torch.Tensor, y: torch.Tensor, batch: PairBatch, gather: bool = True):
    """(B, D) local sources and targets -> the global batch's (C, D) sources and targets (gathered with
    gradients when ``gather``), (B,) column of each local row's positive, (B, C) disguised positives (same
    source or same target text) to mask."""
    gather_fn = gather_rows if gather else (lambda t: (t, 0))
    all_x, offset = gather_fn(x)  # (C, D)
    all_y, _ = gather_fn(y)
    src_keys, tgt_keys = gather_fn(batch.src_key)[0], gather_fn(batch.tgt_key)[0]  # (C,)
    labels = offset + torch.arange(len(batch), device=x.device)  # (B,)
    dup = (batch.src_key[:, None] == src_keys[None]) | (batch.tgt_key[:, None] == tgt_keys[None])  # (B, C)
    dup[torch.arange(len(batch), device=x.device), labels] = False
    return all_x, all_y, labels, dup


def ranking_terms(x: torch.Tensor, y: torch.Tensor, batch: PairBatch, cfg: Any, name: str) -> LossOut:
    """Normalise, gather candidates, mask duplicates and sum L(x→y) (+ L(y→x)) over this process's rows."""
    x, y = F.normalize(x.float(), dim=-1), F.normalize(y.float(), dim=-1)  # (B, D)
    all_x, all_y, labels, dup = in_batch_candidates(x, y, batch, cfg.gather)
    loss, correct = ranking_loss_sum(x, all_y, labels, cfg.margin, cfg.scale, dup)
    if cfg.bidirectional:
        back, back_correct = ranking_loss_sum(y, all_x, labels, cfg.margin, cfg.scale, dup)
        loss, correct = loss + back, (correct + back_correct) / 2
    n = len(batch)
    return loss, n, {f"train/{name}/loss_sum": float(loss.detach()), f"train/{name}/correct": float(correct),
                     f"train/{name}/n": n}


@register("objective", "translation_ranking", TranslationRankingConfig)
class TranslationRanking(Objective):
    name = "translation_ranking"
    needs = ("pairs",)
    splittable = False  # in-batch negatives couple the rows: the trainer must not re-split batches by length

    def __init__(self, cfg: TranslationRankingConfig, vocab, max_len: int) -> None:
        super().__init__(cfg, vocab, max_len)
        self.heads = ("tgt_encoder",) if cfg.separate_encoders else ()

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        return sample_pair_batch(pool, n, gen, self.vocab, self.max_len)

    def __call__(self, model: torch.nn.Module, batch: PairBatch) -> LossOut:
        tgt_encoder = model.head("tgt_encoder") if self.cfg.separate_encoders else model.encoder
        x = embed(model.encoder, batch.src, self.cfg.pooling)
        y = embed(tgt_encoder, batch.tgt, self.cfg.pooling)
        return ranking_terms(x, y, batch, self.cfg, self.name)
