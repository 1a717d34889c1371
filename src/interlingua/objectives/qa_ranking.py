"""Question-answer ranking over in-batch candidate answers (mUSE's QA task).

    q_i = ‖h_Q(pool(enc(question_i)))‖₂,   a_j = ‖h_A(pool(enc(answer_j)))‖₂
    L_QA = - Σ_i log e^{s(q_iᵀa_i - m)} / (e^{s(q_iᵀa_i - m)} + Σ_{j≠i, j∉D_i} e^{s q_iᵀa_j})

The shared encoder is followed by task-specific hidden layers, one tower for questions (h_Q) and one for
answers (h_A) (head ``qa``). The answers of the other questions in the global batch are the negatives
(gathered over processes with gradients); D_i masks rows whose question or answer text equals row i's
(XQuAD asks several questions about one sentence). One direction by default (question → answer); the
margin and scale default to sentence-transformers' MultipleNegativesRankingLoss (m = 0, s = 20).
Summed over rows; the item count is the number of rows; normalisation as in ``translation_ranking``.

Data: XQuAD training articles (``data[:36]``), question → the context sentence holding the answer, in
every run language XQuAD has (``interlingua.data.tasks``). Related: ``translation_ranking`` (same loss),
``nli``. Reference: Yang et al. 2020, Multilingual Universal Sentence Encoder for Semantic Retrieval.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.translation_ranking import check_ranking_config, embed, ranking_terms
from interlingua.registry import register


@dataclass
class QARankingConfig(ObjectiveConfig):
    margin: float = 0.0
    scale: float = 20.0
    pooling: str = "mean"
    """Sentence vector before the towers: ``mean`` (mUSE) or ``cls``."""
    bidirectional: bool = False
    """Also rank questions given an answer."""
    gather: bool = True

    def __post_init__(self) -> None:
        check_ranking_config(self, "qa_ranking")


@register("objective", "qa_ranking", QARankingConfig)
class QARanking(Objective):
    name = "qa_ranking"
    needs = ("xquad",)
    heads = ("qa",)
    splittable = False  # in-batch negatives couple the rows: the trainer must not re-split batches by length

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        drawn = pool.sample_task("xquad", n, gen)
        questions = [(q, self.vocab.lang_index(lang)) for lang, (q, _) in drawn]
        answers = [(a, self.vocab.lang_index(lang)) for lang, (_, a) in drawn]
        return PairBatch.build(questions, answers, self.vocab, self.max_len)

    def __call__(self, model: torch.nn.Module, batch: PairBatch) -> LossOut:
        head = model.head("qa")
        q = head.question(embed(model.encoder, batch.src, self.cfg.pooling))  # (B, D)
        a = head.answer(embed(model.encoder, batch.tgt, self.cfg.pooling))  # (B, D)
        return ranking_terms(q, a, batch, self.cfg, self.name)
