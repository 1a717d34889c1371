"""Online back-translation (XLM's UNMT): translate a monolingual sentence with the current model, learn the way back.

    ŷ = greedy(x → b) with no gradient, in eval mode;    L_BT = - Σ_t log p(x_t | x_<t, ŷ)

For a monolingual sentence x of language a, b is the pivot when a is not, else a language of the pool drawn
uniformly. The model translates x into b greedily (``models.generate``, budget ⌊ratio·|x|⌋ + extra tokens),
then learns to decode x (language a) from ŷ (language b): gradients reach the model through the second pass
only, since ŷ is a list of token ids. Summed over the tokens of x.

Schedule: no loss (and no item) before ``start_step`` updates, so DAE can first teach the decoder to write
(XLM starts back-translation after denoising pre-training); ``langs`` restricts the source languages.

Inputs: monolingual sentences (``halves``: disjoint halves of the pairs; ``data.seq2seq_batches.draw_mono``).
Related: ``dae``, ``xae``. Reference: Lample et al. 2018, Phrase-Based & Neural Unsupervised Machine
Translation; Lample & Conneau 2019 (XLM).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from interlingua.data.batches import TokenBatch
from interlingua.data.pair_batches import encode_side
from interlingua.data.pool import Pool
from interlingua.data.seq2seq_batches import Seq2SeqBatch, draw_mono, target_batch
from interlingua.models.generate import SearchConfig, Special, generate
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.objectives.xae import seq2seq_prediction
from interlingua.registry import register


@dataclass
class BTConfig(ObjectiveConfig):
    start_step: int = 0
    """Updates before back-translation starts (its loss is 0 until then)."""
    langs: list[str] = field(default_factory=list)
    """Source languages to back-translate from (empty: all)."""
    halves: bool = False
    ratio: float = 1.3
    extra: int = 5


@dataclass
class BTBatch:
    src: TokenBatch  # (B, S) x as the first pass reads it
    back: torch.Tensor  # (B,) language row of b, the language x is translated into
    tgt: TokenBatch  # x as the second pass's decoder target
    active: bool = True

    @property
    def num_items(self) -> int:
        return self.tgt.num_items if self.active else 0

    def to(self, device: torch.device | str) -> "BTBatch":
        return BTBatch(self.src.to(device), self.back.to(device), self.tgt.to(device), self.active)

    def slice(self, start: int, stop: int) -> "BTBatch":
        return BTBatch(self.src.slice(start, stop).trim(), self.back[start:stop],
                       self.tgt.slice(start, stop).trim(), self.active)

    def __len__(self) -> int:
        return len(self.src)


class StepCounter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("step", torch.zeros((), dtype=torch.long))


@register("objective", "bt", BTConfig)
class BT(Objective):
    name = "bt"
    needs = ("pairs",)
    heads = ("decoder",)
    splittable = True

    def build_state(self, model: nn.Module) -> nn.Module:
        return StepCounter()  # checkpointed, so a resumed run keeps the schedule

    def after_step(self, model: nn.Module, step: int) -> None:
        self.state.step.fill_(step)

    def _target_lang(self, lang: str, pool: Pool, gen: torch.Generator) -> str:
        if lang != pool.pivot:
            return pool.pivot
        others = sorted(pool.pairs)
        return others[int(torch.randint(len(others), (1,), generator=gen))]

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> BTBatch:
        v, c = self.vocab, self.cfg
        drawn = draw_mono(pool, n if not c.langs else 8 * n, gen, c.halves)
        if c.langs:
            drawn = [d for d in drawn if d[0] in c.langs][:n]
            if len(drawn) < n:
                raise ValueError(f"objectives.bt.langs={c.langs}: too few of the drawn sentences are in these languages")
        rows = [(list(ids), v.lang_index(lang)) for lang, ids in drawn]
        back = torch.tensor([v.lang_index(self._target_lang(lang, pool, gen)) for lang, _ in drawn])
        active = self.state is None or int(self.state.step) >= c.start_step
        return BTBatch(encode_side(rows, v, self.max_len), back, target_batch(rows, v, self.max_len), active)

    def __call__(self, model: nn.Module, batch: BTBatch) -> LossOut:
        if not batch.active:
            return model.heads["decoder"].lm.bias.sum() * 0.0, 0, {f"train/{self.name}/n": 0}
        v = self.vocab
        search = SearchConfig(beam=1, ratio=self.cfg.ratio, extra=self.cfg.extra)
        ys = generate(model, batch.src, batch.back, Special(v.cls_id, v.sep_id, v.pad_id), search)
        src = encode_side([(v.prefix_ids + y, lang) for y, lang in zip(ys, batch.back.tolist())], v, self.max_len)
        return seq2seq_prediction(model, Seq2SeqBatch(src.to(batch.tgt.input_ids.device), batch.tgt), self.name)
