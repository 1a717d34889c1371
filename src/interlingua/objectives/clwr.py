"""CLWR, Unicoder's cross-lingual word recovery: x's tokens recovered from x rebuilt out of y's words.

Rebuild each word of x from the words of its translation y, then recover x's tokens from that rebuilt
sequence.

    A_ij = wᵀ[x_i; y_j; x_i ⊙ y_j]          w ∈ R^{3D}; x_i, y_j input (word) embeddings
    x_i^t = Σ_j softmax_j(A_ij) · y_j        over the real tokens j of y
    L = −Σ_{i ∈ x} log P(x_i | X^t)          the encoder over X^t, the tied LM head at every real token of x

Worked example (D = 1, w = (0, 0, 1), so A_ij = x_i·y_j): x = (1, 2), y = (1, −1, 0).
Row 1: A = (1, −1, 0), x₁^t = (e − e^{−1}) / (e + e^{−1} + 1) = 0.5752; row 2: A = (2, −2, 0),
x₂^t = (e² − e^{−2}) / (e² + e^{−2} + 1) = 0.8509.  (tests/objectives/test_clwr.py)

X^t keeps x's <s> and </s> embeddings, positions and language ids; only the real tokens are rebuilt, so
the prediction of x_i must pass through y's words. Where this file chose: the scorer w is the head
``clwr_score`` (no bias); the side that is rebuilt (x) is drawn per pair, so both languages get recovered.
Summed over x's real tokens; the item count is their number.
Inputs: translation pairs. Related: ``tlm``, ``clpc``, ``clmlm``.
Reference: Huang et al. 2019, Unicoder: A Universal Language Encoder by Pre-training with Multiple
Cross-lingual Tasks (EMNLP).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.mlm import masked_lm_loss_sum
from interlingua.registry import register


@dataclass
class CLWRConfig(ObjectiveConfig):
    pass


def recover(x: torch.Tensor, y: torch.Tensor, y_real: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B, Tx, D) embeddings of x, (B, Ty, D) of y, (B, Ty) bool real tokens of y, (3D,) scorer ->
    (B, Tx, D) x^t: each x_i as the attention-weighted sum of y's real tokens."""
    D = x.shape[-1]
    w_x, w_y, w_xy = w[:D], w[D:2 * D], w[2 * D:]
    scores = (x @ w_x)[:, :, None] + (y @ w_y)[:, None, :] + (x * w_xy) @ y.transpose(1, 2)  # (B, Tx, Ty)
    weights = scores.masked_fill(~y_real[:, None, :], float("-inf")).softmax(-1)
    return weights @ y  # (B, Tx, D)


@register("objective", "clwr", CLWRConfig)
class CLWR(Objective):
    name = "clwr"
    needs = ("pairs",)
    heads = ("lm",)

    def build_heads(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"clwr_score": nn.Linear(3 * model.cfg.d_model, 1, bias=False)}

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> PairBatch:
        drawn = pool.sample_pairs(n, gen)
        swap = (torch.rand(len(drawn), generator=gen) < 0.5).tolist()
        piv = self.vocab.lang_index(pool.pivot)
        sides = [((x, self.vocab.lang_index(lang)), (p, piv)) for lang, (p, x) in drawn]
        sides = [(b, a) if s else (a, b) for (a, b), s in zip(sides, swap)]  # (rebuilt x, its translation y)
        batch = PairBatch.build([a for a, _ in sides], [b for _, b in sides], self.vocab, self.max_len)
        return ItemsPairBatch(**vars(batch))

    def __call__(self, model: nn.Module, batch: PairBatch) -> LossOut:
        src, tgt = batch.src.trim(), batch.tgt.trim()
        word = model.encoder.embeddings.word
        x, y = word(src.input_ids), word(tgt.input_ids)  # (B, Tx, D), (B, Ty, D)
        x_real, y_real = src.word_ids >= 0, tgt.word_ids >= 0  # (B, T): no specials, no padding
        rebuilt = recover(x, y, y_real, model.head("clwr_score").weight[0])  # (B, Tx, D)
        inputs = torch.where(x_real[..., None], rebuilt, x)  # specials keep their own embedding
        hidden = model.encoder(inputs_embeds=inputs, attn_mask=src.attn_mask, position_ids=src.position_ids,
                               lang_ids=src.lang_ids, segment_ids=src.segment_ids).last_hidden  # (B, Tx, D)
        loss, correct = masked_lm_loss_sum(model.head("lm")(hidden[x_real]), src.input_ids[x_real])
        n = int(x_real.sum())
        return loss, n, {"train/clwr/loss_sum": float(loss.detach()), "train/clwr/correct": float(correct),
                         "train/clwr/n": n}


class ItemsPairBatch(PairBatch):
    """A PairBatch whose items are the real tokens of its ``src`` side (CLWR predicts each of them)."""

    @property
    def num_items(self) -> int:
        return int((self.src.word_ids >= 0).sum())
