"""ALM, the alternating language model: MLM over code-switched sentences from aligned translation pairs.

    P(major) = {(s₁, s₂) ⊆ major, (t₁, t₂) ⊆ minor : |s| ≤ 5, |t| ≤ 5, links from s land in t and the
               links into t come from s, at least one link}        (phrase pairs consistent with the alignment)
    z = major with non-overlapping phrases of P replaced by their minor phrases, at most ⌊share·|major|⌋ words
    L = −Σ_{i ∈ M} log p(z_i | z̃)                                   MLM (15 %, 80/10/10) over z

Each pair gives one sequence: pure x (``pure_x``, 10 %), pure y (``pure_y``, 10 %), else code-switched with
x or y as the major side (half each). Every token keeps its origin's language id. Words are the shared
vocabulary's words; alignments come from eflomal, computed once per corpus and cached
(:mod:`interlingua.data.alignments`, which says why eflomal). Where this file chose: phrases are drawn in
random order and kept when they fit the budget and overlap no kept phrase (ALM samples phrase lengths; the
issue fixes only the 5-word cap and the share). The share is a ceiling, ⌊share·n⌋ words, so a sentence of
fewer than 1/share words (3 at 30 %) and one without a consistent phrase stay pure. A text prefix
(e5's ``query: ``) is left out of the alignment and the switching and put back once at the start. Summed over
masked tokens.
Inputs: translation pairs. Related: ``tlm`` (the pair side by side instead of mixed), ``mlm``.
Reference: Yang et al. 2020, Alternating Language Modeling for Cross-Lingual Pre-Training (AAAI).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from interlingua.data.alignments import pool_alignments, words
from interlingua.data.batches import TokenBatch
from interlingua.data.collate import Segment, pack
from interlingua.data.paths import cache_root
from interlingua.data.pool import Pool
from interlingua.errors import ConfigError
from interlingua.objectives.base import LossOut, Objective
from interlingua.objectives.mlm import MLMConfig, corrupt, masked_prediction
from interlingua.registry import register

Span = tuple[int, int]  # first and last word, inclusive


@dataclass
class ALMConfig(MLMConfig):
    share: float = 0.3
    """Most words of the major sentence replaced, as a share of its words."""
    max_phrase: int = 5
    """Longest phrase swapped, in words, on either side."""
    pure_x: float = 0.1
    """Share of sequences that are the language's sentence alone."""
    pure_y: float = 0.1
    """Share of sequences that are the pivot sentence alone."""

    def __post_init__(self) -> None:
        if not (0 < self.share <= 1 and self.max_phrase >= 1 and 0 <= self.pure_x + self.pure_y <= 1):
            raise ConfigError("objectives.alm: share must lie in (0, 1], max_phrase >= 1 and pure_x + pure_y <= 1, "
                              f"got {self.share}, {self.max_phrase}, {self.pure_x} + {self.pure_y}")


def consistent_phrases(links: set[tuple[int, int]], n_major: int, max_len: int) -> list[tuple[Span, Span]]:
    """Phrase pairs (major span, minor span) of at most ``max_len`` words each, consistent with ``links``
    (major word, minor word): no link leaves the box they span, and at least one is inside."""
    out = []
    for s1 in range(n_major):
        for s2 in range(s1, min(s1 + max_len, n_major)):
            ts = [j for i, j in links if s1 <= i <= s2]
            if not ts:
                continue
            t1, t2 = min(ts), max(ts)
            if t2 - t1 < max_len and all(s1 <= i <= s2 for i, j in links if t1 <= j <= t2):
                out.append(((s1, s2), (t1, t2)))
    return out


def pick_phrases(phrases: list[tuple[Span, Span]], budget: int, gen: torch.Generator) -> list[tuple[Span, Span]]:
    """In random order, keep the phrases that overlap no kept one (on either side) and fit ``budget`` major words."""
    kept, used = [], 0
    for k in torch.randperm(len(phrases), generator=gen).tolist():
        (s1, s2), (t1, t2) = phrases[k]
        if used + s2 - s1 + 1 > budget:
            continue
        if any(s1 <= b2 and a1 <= s2 or t1 <= d2 and c1 <= t2 for (a1, b2), (c1, d2) in kept):
            continue
        kept.append(((s1, s2), (t1, t2)))
        used += s2 - s1 + 1
    return sorted(kept)


def code_switch(major: list[list[int]], minor: list[list[int]], kept: list[tuple[Span, Span]], langs: tuple[int, int]):
    """Words of the major and minor sentence, the kept phrases -> (token ids, a language per token)."""
    ids, token_langs, i = [], [], 0
    for (s1, s2), (t1, t2) in kept + [((len(major), len(major)), (0, -1))]:
        for w in major[i:s1]:
            ids += w
            token_langs += [langs[0]] * len(w)
        for w in minor[t1:t2 + 1]:
            ids += w
            token_langs += [langs[1]] * len(w)
        i = s2 + 1
    return ids, token_langs


@register("objective", "alm", ALMConfig)
class ALM(Objective):
    name = "alm"
    needs = ("pairs",)
    heads = ("lm",)

    def _links(self, pool: Pool) -> dict:
        if getattr(self, "links", None) is None:  # once per run: from the cache, or eflomal
            self.links = pool_alignments(pool.pairs, self.vocab.word_starts, cache_root() / "alignments",
                                         self.vocab.strip_prefix)
        return self.links

    def _row(self, pool: Pool, lang: str, k: int, gen: torch.Generator) -> Segment:
        p_ids, x_ids = (self.vocab.strip_prefix(ids) for ids in pool.pairs[lang][k])  # a text prefix: once, below
        x, y = (words(x_ids, self.vocab.word_starts), self.vocab.lang_index(lang)), \
            (words(p_ids, self.vocab.word_starts), self.vocab.lang_index(pool.pivot))
        links = self._links(pool)[lang][k]  # (pivot word, language word)
        u = float(torch.rand(1, generator=gen))
        if u < self.cfg.pure_x + self.cfg.pure_y:
            (w, lg) = x if u < self.cfg.pure_x else y
            return Segment(self.vocab.prefix_ids + [t for word in w for t in word], lg)
        x_major = bool(torch.rand(1, generator=gen) < 0.5)
        (major, ml), (minor, nl) = (x, y) if x_major else (y, x)
        oriented = {(j, i) for i, j in links} if x_major else set(links)  # (major word, minor word)
        phrases = consistent_phrases(oriented, len(major), self.cfg.max_phrase)
        kept = pick_phrases(phrases, math.floor(self.cfg.share * len(major)), gen)
        ids, token_langs = code_switch(major, minor, kept, (ml, nl))
        pre = self.vocab.prefix_ids
        return Segment(pre + ids, ml, [ml] * len(pre) + token_langs)

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        rows = [[self._row(pool, lang, k, gen)] for lang, k in pool.sample_pair_rows(n, gen)]
        return corrupt(pack(rows, self.vocab, self.max_len), self.cfg, self.vocab, gen)

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        return masked_prediction(model, batch, self.name)
