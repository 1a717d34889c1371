"""Word alignment from similarity matrices, and its scores: the pure part of ``interlingua eval align``.

Extraction (each takes an (m, n) matrix between m source and n target subwords, returns an (m, n) bool link matrix):

    argmax    link (i, j) when j = argmax_j' sim[i, j'] and i = argmax_i' sim[i', j]        SimAlign "inter"
    itermax   argmax, then rows and columns still unlinked get another round on a masked sim  SimAlign "itermax"
    softmax   link (i, j) when softmax_j(s)[i, j] > t and softmax_i(s)[i, j] > t (t = 1e-3)  awesome-align

Subword links become word links through each side's subword -> word map: a word pair is linked when any of
their subwords are (SimAlign's default ``token_type="bpe"``, awesome-align's only mode).

Scores (Och & Ney 2003), with A the predicted links, S the sure and P the possible gold links, S ⊆ P, each
count summed over the whole corpus before dividing (so long sentences weigh more, as in every published AER):

    precision = |A ∩ P| / |A|       recall = |A ∩ S| / |S|
    AER       = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|)

Gold format (awesome-align's examples, ``/shared/corpora/word_alignment/``): a text file of
``source tokens ||| target tokens`` lines, tokens separated by single U+0020 spaces, and a line-aligned gold file
of Pharaoh links, 1-based: ``i-j`` sure, ``i-p-j`` possible. In memory, links are 0-based (i, j) tuples.

References: Jalili Sabet et al., "SimAlign: High Quality Word Alignments without Parallel Training Data using Static
and Contextualized Embeddings", Findings of EMNLP 2020; Dou & Neubig, "Word Alignment by Fine-tuning Embeddings
on Parallel Corpora" (awesome-align), EACL 2021.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interlingua.data.readers import read_lines
from interlingua.errors import CorpusError

Link = tuple[int, int]


@dataclass(frozen=True)
class GoldPair:
    """One sentence pair: its words (split on U+0020 only) and 0-based gold links, ``sure`` ⊆ ``possible``."""

    src: list[str]
    tgt: list[str]
    sure: frozenset[Link]
    possible: frozenset[Link]


def split_side(side: str) -> list[str]:
    """Tokens of one side, split on U+0020 only (a U+3000 can be a token); an empty side has none."""
    side = side.strip(" ")
    return side.split(" ") if side else []


def parse_links(line: str, n_src: int, n_tgt: int, where: str = "gold") -> tuple[frozenset[Link], frozenset[Link]]:
    """(sure, possible) 0-based links of one gold line (``1-1 2-p-3``); possible includes sure."""
    sure, possible = set(), set()
    for item in line.split():
        parts = item.split("-")
        if len(parts) == 3 and parts[1] == "p":
            parts, is_sure = [parts[0], parts[2]], False
        elif len(parts) == 2:
            is_sure = True
        else:
            raise CorpusError(f"{where}: link {item!r} is neither i-j nor i-p-j")
        try:
            i, j = int(parts[0]) - 1, int(parts[1]) - 1
        except ValueError:
            raise CorpusError(f"{where}: link {item!r} is neither i-j nor i-p-j") from None
        if not (0 <= i < n_src and 0 <= j < n_tgt):
            raise CorpusError(f"{where}: link {item!r} lies outside 1..{n_src} x 1..{n_tgt} (links are 1-based)")
        (sure if is_sure else possible).add((i, j))
    return frozenset(sure), frozenset(possible | sure)


def read_gold(text_path: str | Path, gold_path: str | Path) -> list[GoldPair]:
    """The sentence pairs of a ``src ||| tgt`` file (.txt or .txt.gz) with the links of its gold file."""
    texts, golds = read_lines(text_path), read_lines(gold_path)
    if len(texts) != len(golds):
        raise CorpusError(f"{text_path} has {len(texts)} lines, {gold_path} {len(golds)}; they must be line-aligned")
    pairs = []
    for lineno, (text, gold) in enumerate(zip(texts, golds), start=1):
        sides = text.split("|||")
        if len(sides) != 2:
            raise CorpusError(f"{text_path}:{lineno}: expected 'source tokens ||| target tokens'")
        src, tgt = split_side(sides[0]), split_side(sides[1])
        sure, possible = parse_links(gold, len(src), len(tgt), where=f"{gold_path}:{lineno}")
        pairs.append(GoldPair(src, tgt, sure, possible))
    return pairs


# ------------------------------------------------------------------------------------------ extraction


def argmax_links(sim: np.ndarray) -> np.ndarray:
    """(m, n) bool: row-wise argmax ∩ column-wise argmax (ties: the first index, as numpy and SimAlign)."""
    m, n = sim.shape
    forward = np.zeros((m, n), dtype=bool)
    forward[np.arange(m), sim.argmax(axis=1)] = True
    backward = np.zeros((m, n), dtype=bool)
    backward[sim.argmax(axis=0), np.arange(n)] = True
    return forward & backward


def itermax_links(sim: np.ndarray, max_count: int = 2, alpha: float = 0.9) -> np.ndarray:
    """(m, n) bool: SimAlign's ``iter_max``, for a similarity in [0, 1] (it uses (cos + 1) / 2).

    Start from :func:`argmax_links`. Each further round (``max_count - 1`` of them, SimAlign's default one)
    scales sim by ``alpha`` where only one of the row and column is linked already, by 0 where both are (by 1
    where neither), and adds the argmax intersection of that masked matrix among cells whose row or column is
    still free. It stops early when a round adds nothing or every row or every column is linked; matrices with
    min(m, n) <= 2 keep the plain intersection.
    """
    links = argmax_links(sim).astype(np.float64)
    m, n = sim.shape
    if min(m, n) <= 2:
        return links.astype(bool)
    for _ in range(max_count - 1):
        free_row = np.broadcast_to(1.0 - links.sum(1, keepdims=True).clip(0.0, 1.0), (m, n))  # 1 = row unlinked
        free_col = np.broadcast_to(1.0 - links.sum(0, keepdims=True).clip(0.0, 1.0), (m, n))
        if free_row.sum() < 1.0 or free_col.sum() < 1.0:
            break
        scale = (alpha * free_row + alpha * free_col).clip(0.0, 1.0)
        open_cell = 1.0 - (1.0 - free_row) * (1.0 - free_col)  # 0 where both row and column are linked
        new = argmax_links(sim * scale) * open_cell
        if not new.any():
            break
        links = links + new
    return links.astype(bool)


def softmax_links(scores: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """(m, n) bool: softmax over targets (rows) and over sources (columns), both above ``threshold``.

    awesome-align applies it to raw dot products of hidden states, whose scale sets the softmax temperature;
    on cosines (within [-1, 1]) both softmaxes are near uniform and nearly every pair passes 1e-3.
    """
    s = scores - scores.max(axis=1, keepdims=True)
    forward = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)  # (m, n), rows sum to 1
    s = scores - scores.max(axis=0, keepdims=True)
    backward = np.exp(s) / np.exp(s).sum(axis=0, keepdims=True)  # (m, n), columns sum to 1
    return (forward > threshold) & (backward > threshold)


def word_links(subword_links: np.ndarray, src_word: Sequence[int], tgt_word: Sequence[int]) -> set[Link]:
    """Word pairs (i, j) with at least one linked subword pair; ``*_word[k]`` is the word of subword k."""
    return {(src_word[a], tgt_word[b]) for a, b in zip(*np.nonzero(subword_links))}


# ---------------------------------------------------------------------------------------------- scores


@dataclass
class AlignmentCounts:
    """Corpus sums: predicted links |A|, sure links |S|, |A ∩ S| and |A ∩ P|."""

    predicted: int = 0
    sure: int = 0
    hit_sure: int = 0
    hit_possible: int = 0

    def add(self, predicted: Iterable[Link], sure: Iterable[Link], possible: Iterable[Link]) -> None:
        a, s, p = set(predicted), set(sure), set(possible) | set(sure)
        self.predicted += len(a)
        self.sure += len(s)
        self.hit_sure += len(a & s)
        self.hit_possible += len(a & p)

    def scores(self) -> dict[str, float]:
        """aer, precision, recall as fractions (an empty prediction has precision 0 and AER 1)."""
        precision = self.hit_possible / self.predicted if self.predicted else 0.0
        recall = self.hit_sure / self.sure if self.sure else 0.0
        total = self.predicted + self.sure
        aer = 1.0 - (self.hit_sure + self.hit_possible) / total if total else 0.0
        return {"aer": aer, "precision": precision, "recall": recall}
