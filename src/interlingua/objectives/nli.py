"""Natural language inference as 3-way classification of a sentence pair encoded separately (mUSE, SBERT).

    u = pool(enc(a)),  v = pool(enc(b)),   z = [u; v; |u - v|; u ⊙ v]  (4D)
    L_NLI = - Σ_b log softmax(W₂ GELU(W₁ z_b))_{c_b},   c ∈ {entailment 0, neutral 1, contradiction 2}

The two sentences go through the shared encoder separately (no cross-attention), so the sentence vectors
themselves must carry the inference signal; W₁ is the task-specific hidden layer and W₂ the classifier
(head ``nli``). Summed over rows; the item count is the number of rows.

Data: SICK train (4,500 English pairs, ``interlingua.data.tasks``). Related: ``qa_ranking``,
``translation_ranking`` (mUSE trains all three on one encoder). Reference: Yang et al. 2020, Multilingual
Universal Sentence Encoder for Semantic Retrieval; Conneau et al. 2017, InferSent (the feature vector z).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.translation_ranking import embed
from interlingua.registry import register


@dataclass
class NLIConfig(ObjectiveConfig):
    pooling: str = "mean"
    """Sentence vector: ``mean`` (mUSE) or ``cls``."""

    def __post_init__(self) -> None:
        if self.pooling not in ("cls", "mean"):
            raise ConfigError(f"objectives.nli.pooling must be 'cls' or 'mean', got {self.pooling!r}")


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, D), (B, D) -> (B, 4D) = [u, v, |u - v|, u * v]."""
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)


def nli_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3) logits, (B,) labels -> (summed cross-entropy, number correct)."""
    return F.cross_entropy(logits.float(), labels, reduction="sum"), (logits.argmax(-1) == labels).sum()


@register("objective", "nli", NLIConfig)
class NLI(Objective):
    name = "nli"
    needs = ("sick",)
    heads = ("nli",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        drawn = pool.sample_task("sick", n, gen)
        a = [(ids, self.vocab.lang_index(lang)) for lang, (ids, _, _) in drawn]
        b = [(ids, self.vocab.lang_index(lang)) for lang, (_, ids, _) in drawn]
        return PairBatch.build(a, b, self.vocab, self.max_len, labels=[c for _, (_, _, c) in drawn])

    def __call__(self, model: torch.nn.Module, batch: PairBatch) -> LossOut:
        u = embed(model.encoder, batch.src, self.cfg.pooling)  # (B, D)
        v = embed(model.encoder, batch.tgt, self.cfg.pooling)  # (B, D)
        loss, correct = nli_loss_sum(model.head("nli")(pair_features(u, v)), batch.labels)
        n = len(batch)
        return loss, n, {"train/nli/loss_sum": float(loss.detach()), "train/nli/correct": float(correct),
                         "train/nli/n": n}
