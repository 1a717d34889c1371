"""BTMLM, ERNIE-M's back-translation MLM: MLM on a sentence beside the model's own pseudo-translation.

The model writes a pseudo-translation of a monolingual sentence, then learns MLM on the sentence with that
pseudo-translation as context.

    pass 1 (no gradient):  z₁ = <s> x </s> m₁ … m_k </s>,  k = ⌈r·|x|⌉,  CAMLM attention
                           ŷ_j = argmax_v P(v | z₁, j)            (or sampled, ``sample``)
    pass 2:                z₂ = <s> x̃ </s> ŷ </s>,   x̃: 15 % of x masked (80/10/10), full attention
    L = −Σ_{i ∈ M_x} log P(x_i | x̃, ŷ)

x is a monolingual sentence of language a; the placeholders m carry language b's id (a language of the run
other than a, drawn uniformly), segment 1 and positions restarting at 0. Under CAMLM's mask the
placeholders see x and themselves only. Pass 1 runs under ``torch.no_grad``, so gradients flow through pass
2 only; ŷ's positions are never masked or predicted, and ŷ never takes a special or language token. Pass 1
runs in eval mode (no dropout). x is cut to ⌊(max_len − 3)/(1 + r)⌋ tokens first, so the placeholders keep
the ratio r. Summed over M_x; the item count is |M_x|.
Where this file chose: b is drawn per sentence (ERNIE-M pairs a with the languages of its parallel data);
argmax filling by default.
Inputs: monolingual sentences (``mono``). Related: ``camlm`` (pass 1's mask), ``tlm`` (pass 2).
Reference: Ouyang et al. 2021, ERNIE-M (EMNLP).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from interlingua.data.batches import TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.models.encoder import eval_mode
from interlingua.objectives.base import LossOut, Objective
from interlingua.objectives.camlm import cross_attention_mask
from interlingua.objectives.mlm import MLMConfig, corrupt, masked_prediction
from interlingua.registry import register


@dataclass
class BTMLMConfig(MLMConfig):
    ratio: float = 1.0
    """r: placeholders per source token, k = ⌈r·|x|⌉."""
    sample: bool = False
    """Sample ŷ from P instead of taking the argmax."""

    def __post_init__(self) -> None:
        if self.ratio <= 0:
            raise ConfigError(f"objectives.btmlm.ratio must be positive, got {self.ratio}")


@dataclass
class BTBatch(TokenBatch):
    """``input_ids``: x̃ ⊕ placeholders (pass 2's input once ŷ is filled in); ``clean_ids``: x ⊕ placeholders
    (pass 1's input); ``fill`` (B, T) bool: the placeholder positions; ``row_ids`` (B,) rows of the global
    batch and ``seed``, for sampling that repeats on resume whatever the process count."""

    clean_ids: torch.Tensor | None = None
    fill: torch.Tensor | None = None
    row_ids: torch.Tensor | None = None
    seed: int = 0


def fill_placeholders(ids: torch.Tensor, fill: torch.Tensor, logits: torch.Tensor,
                      seeds: list[int] | None = None) -> torch.Tensor:
    """(B, T) ids, (B, T) bool placeholders, (N, V) logits at the placeholders in row-major order -> ids with
    each placeholder replaced by its argmax, or by a draw from softmax(logits) with row b's generator
    ``seeds[b]``."""
    if seeds is None:
        picked = logits.argmax(-1)  # (N,)
    else:
        per_row = fill.sum(1).tolist()  # placeholders of each row, in order
        probs = logits.float().softmax(-1).cpu().split(per_row)
        picked = torch.cat([torch.multinomial(p, 1, generator=torch.Generator().manual_seed(s))[:, 0]
                            for p, s in zip(probs, seeds)]) if per_row else logits.new_zeros(0, dtype=torch.long)
    out = ids.clone()
    out[fill] = picked.to(ids.device)
    return out


@register("objective", "btmlm", BTMLMConfig)
class BTMLM(Objective):
    name = "btmlm"
    needs = ("mono",)
    heads = ("lm",)

    def _never(self, width: int, device) -> torch.Tensor:
        """(V,) bool: ids ŷ may not take: special and language tokens, and head rows beyond the vocabulary."""
        never = torch.zeros(width, dtype=torch.bool, device=device)
        never[torch.tensor(self.vocab.special_ids, device=device)] = True
        never[self.vocab.size:] = True
        return never

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> BTBatch:
        langs = sorted(set(pool.mono) | set(pool.pairs) | {pool.pivot})
        rows = []
        room = (self.max_len - 3) / (1 + self.cfg.ratio)  # x's share of a row: <s> x </s> m₁ … m_k </s>
        for lang, ids in pool.sample_mono(n, gen):
            others = [b for b in langs if b != lang] or [lang]
            b = others[int(torch.randint(len(others), (1,), generator=gen))]
            ids = list(ids[:max(1, math.floor(room))])  # cut x first, so that k = ⌈r·|x|⌉ of what is kept
            k = math.ceil(self.cfg.ratio * len(ids))
            placeholders = Segment([self.vocab.mask_id] * k, self.vocab.lang_index(b))
            rows.append([Segment(ids, self.vocab.lang_index(lang)), placeholders])
        p = pack(rows, self.vocab, self.max_len, reset_positions=True)
        p.maskable &= p.segment_ids == 0  # only x is masked in pass 2
        masked = corrupt(p, self.cfg, self.vocab, gen)
        fill = (p.input_ids == self.vocab.mask_id) & (p.segment_ids == 1)  # (B, T)
        seed = int(torch.randint(2**62, (1,), generator=gen))
        return BTBatch(masked.input_ids, masked.attn_mask, masked.labels, masked.position_ids, masked.lang_ids,
                       masked.segment_ids, masked.word_ids, clean_ids=p.input_ids, fill=fill,
                       row_ids=torch.arange(len(rows)), seed=seed)

    def __call__(self, model: torch.nn.Module, batch: BTBatch) -> LossOut:
        # eval mode (no dropout) while writing ŷ: the same pseudo-translation on every process
        with eval_mode(model), torch.no_grad():
            first = {**batch.encoder_inputs(), "input_ids": batch.clean_ids,
                     "attn_mask": cross_attention_mask(batch.attn_mask, batch.segment_ids)}
            hidden = model.encoder(**first).last_hidden  # (B, T, D)
            logits = model.head("lm")(hidden[batch.fill])  # (N, V)
            logits[:, self._never(logits.shape[1], logits.device)] = float("-inf")
        seeds = [(batch.seed + int(r)) % 2**62 for r in batch.row_ids] if self.cfg.sample else None
        filled = fill_placeholders(batch.input_ids, batch.fill, logits, seeds)  # (B, T): x̃ ⊕ ŷ
        second = TokenBatch(filled, batch.attn_mask, batch.labels, batch.position_ids, batch.lang_ids,
                            batch.segment_ids, batch.word_ids)
        return masked_prediction(model, second, self.name)
