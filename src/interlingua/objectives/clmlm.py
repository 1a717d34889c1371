"""CLMLM, Unicoder's cross-lingual MLM: MLM over documents whose sentences alternate between languages.

    d = <s> s₁ </s> t(s₂) </s> s₃ </s> t(s₄) </s> …     (every other sentence replaced by its translation)
    L = −Σ_{i ∈ M} log p(d_i | d̃)                        MLM, 15 % masked, 80/10/10

A document is a run of consecutive verses of one Bible chapter (loader ``verses``: the run languages that
have a Bible, each verse with its pivot translation), from a random verse on, as many verses as fit in
``max_tokens`` (Unicoder: 256); which side the first sentence takes is random, then sides alternate. Each
sentence keeps its language id and takes its side as segment id (0 the language, 1 the pivot); positions
run on through the document; a text prefix (e5's ``query: ``) stays on the first sentence only. Summed over
masked tokens.
Where this file chose: Bible chapters are the parallel documents (UDHR articles are too few per language to
sample from, gettext catalogs have no order); a verse longer than the budget is cut by the packer.
Inputs: ``verses``. Related: ``mlm``, ``tlm`` (two sentences instead of a document).
Reference: Huang et al. 2019, Unicoder (EMNLP).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from interlingua.data.batches import TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.objectives.base import LossOut, Objective
from interlingua.objectives.mlm import MLMConfig, corrupt, masked_prediction
from interlingua.registry import register


@dataclass
class CLMLMConfig(MLMConfig):
    max_tokens: int = 256
    """Length of a document row, specials included (at most the model's ``max_positions``)."""

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise ConfigError(f"objectives.clmlm.max_tokens must be at least 8, got {self.max_tokens}")


def alternating_document(verses, start: int, first_side: int, budget: int, langs: tuple[int, int],
                         strip=lambda ids: ids) -> list[Segment]:
    """Verses (pivot ids, lang ids, chapter) from ``start`` on, within one chapter, sides alternating from
    ``first_side`` (0 = the language, 1 = the pivot; also the segment id), while the row (one <s>, one </s>
    each) fits ``budget``. ``strip`` is applied to every verse but the first (a text prefix once per row)."""
    doc, used, chapter = [], 1, verses[start][2]
    for k in range(start, len(verses)):
        pivot_ids, lang_ids, ch = verses[k]
        side = (first_side + k - start) % 2
        ids = list(lang_ids if side == 0 else pivot_ids)
        ids = ids if k == start else strip(ids)
        if ch != chapter or (doc and used + len(ids) + 1 > budget):
            break
        doc.append(Segment(ids, langs[side], segment=side))
        used += len(ids) + 1
    return doc


@register("objective", "clmlm", CLMLMConfig)
class CLMLM(Objective):
    name = "clmlm"
    needs = ("verses",)
    heads = ("lm",)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        table, piv = pool.tasks.get("verses", {}), self.vocab.lang_index(pool.pivot)
        rows = []
        for lang, start in pool.sample_task_rows("verses", n, gen):
            first = int(torch.randint(2, (1,), generator=gen))
            langs = (self.vocab.lang_index(lang), piv)
            rows.append(alternating_document(table[lang], start, first, self.cfg.max_tokens, langs,
                                             self.vocab.strip_prefix))
        return corrupt(pack(rows, self.vocab, self.cfg.max_tokens), self.cfg, self.vocab, gen)

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        return masked_prediction(model, batch, self.name)
