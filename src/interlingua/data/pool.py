"""Tokenised training data and seeded, language-smoothed sampling from it.

Everything an objective draws is a pure function of a ``torch.Generator``: the trainer seeds one per
(step, objective), so a resumed or data-parallel run sees exactly the batches an uninterrupted
single-process run sees.

Sentences are kept back to back in int32 arrays (:class:`TokenStore`, ~4 bytes a token against ~36
for a list of Python ints), and a pair is two row numbers into the pivot's and its language's
monolingual stores, so every distinct sentence is stored once. Rows come out as lists of ints, so
objectives and collators see what they always saw.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import torch
from tqdm import tqdm

from interlingua.data.sampling import sample_languages, smoothed_probs
from interlingua.errors import CorpusError
from interlingua.tokenization.vocab import Vocab

Ids = list[int]


class TokenStore:
    """Sentences of token ids in one int32 array: sentence i is ``ids[offsets[i]:offsets[i + 1]]``."""

    __slots__ = ("ids", "offsets")

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = ids, offsets  # (n_tokens,) int32, (n_rows + 1,) int64

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]]) -> TokenStore:
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        ids = np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(offsets[-1]))
        return cls(ids, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int | slice) -> Ids | list[Ids]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"row {i} of a store of {len(self)}")
        i %= len(self)
        return self.ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def __iter__(self) -> Iterator[Ids]:
        return (self[i] for i in range(len(self)))

    def append(self, row: Sequence[int]) -> None:
        """Add one row (copies the arrays: for small additions, not for building a store)."""
        self.ids = np.concatenate([self.ids, np.asarray(row, dtype=np.int32)])
        self.offsets = np.append(self.offsets, self.offsets[-1] + len(row))

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.offsets.nbytes


class PairStore:
    """Pairs as row numbers into two stores; ``pairs[i]`` is ``(pivot[pivot_rows[i]], lang[lang_rows[i]])``."""

    __slots__ = ("pivot", "lang", "pivot_rows", "lang_rows")

    def __init__(self, pivot: TokenStore, lang: TokenStore, pivot_rows: np.ndarray, lang_rows: np.ndarray) -> None:
        self.pivot, self.lang = pivot, lang
        self.pivot_rows, self.lang_rows = pivot_rows, lang_rows  # (n_pairs,) int32 each

    def __len__(self) -> int:
        return len(self.pivot_rows)

    def __getitem__(self, i: int) -> tuple[Ids, Ids]:
        return self.pivot[int(self.pivot_rows[i])], self.lang[int(self.lang_rows[i])]

    def __iter__(self) -> Iterator[tuple[Ids, Ids]]:
        return (self[i] for i in range(len(self)))


class RowStore:
    """Task items (tuples of token ids and labels) by column: a :class:`TokenStore` per id field."""

    __slots__ = ("columns",)

    def __init__(self, columns: list[TokenStore | list]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __getitem__(self, i: int) -> tuple:
        return tuple(c[i] for c in self.columns)

    def __iter__(self) -> Iterator[tuple]:
        return (self[i] for i in range(len(self)))


@dataclass
class Pool:
    pivot: str
    alpha: float
    # Built by build_pool as stores; tests may pass plain lists, which behave the same.
    mono: dict[str, Sequence[Ids]] = field(default_factory=dict)
    pairs: dict[str, Sequence[tuple[Ids, Ids]]] = field(default_factory=dict)  # lang -> (pivot ids, lang ids)
    docs: dict[str, list[Sequence[Ids]]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Sequence[tuple]]] = field(default_factory=dict)
    """Task name -> lang -> items: tuples of token ids and ints, e.g. ``xquad`` (question, answer), ``sick`` (a, b, label)."""

    def _rows(self, table: dict[str, Sequence], n: int, gen: torch.Generator, what: str) -> list[tuple[str, int]]:
        """n (language, row number) draws: the language with p ∝ n_lang^α, then a row uniformly."""
        if not table:
            raise CorpusError(f"this objective needs {what}, and the configured data has none")
        probs = smoothed_probs({lang: len(items) for lang, items in table.items()}, self.alpha)
        langs = sample_languages(probs, n, gen)
        return [(lang, int(torch.randint(len(table[lang]), (1,), generator=gen))) for lang in langs]

    def _draw(self, table: dict[str, Sequence], n: int, gen: torch.Generator, what: str) -> list[tuple[str, object]]:
        return [(lang, table[lang][i]) for lang, i in self._rows(table, n, gen, what)]

    def sample_mono(self, n: int, gen: torch.Generator) -> list[tuple[str, Ids]]:
        return self._draw(self.mono, n, gen, "monolingual sentences")  # type: ignore[return-value]

    def sample_pairs(self, n: int, gen: torch.Generator) -> list[tuple[str, tuple[Ids, Ids]]]:
        return self._draw(self.pairs, n, gen, "parallel pairs")  # type: ignore[return-value]

    def sample_pair_rows(self, n: int, gen: torch.Generator) -> list[tuple[str, int]]:
        """Like :meth:`sample_pairs`, but (language, pair number): for objectives with per-pair annotations."""
        return self._rows(self.pairs, n, gen, "parallel pairs")

    def sample_docs(self, n: int, gen: torch.Generator) -> list[tuple[str, list[Ids]]]:
        return self._draw(self.docs, n, gen, "documents (data.documents)")  # type: ignore[return-value]

    def sample_task(self, task: str, n: int, gen: torch.Generator) -> list[tuple[str, tuple]]:
        return self._draw(self.tasks.get(task, {}), n, gen, f"{task} task data")  # type: ignore[return-value]

    def sample_task_rows(self, task: str, n: int, gen: torch.Generator) -> list[tuple[str, int]]:
        """Like :meth:`sample_task`, but (language, row number): for objectives that read a row's neighbours."""
        return self._rows(self.tasks.get(task, {}), n, gen, f"{task} task data")


def _encode_all(vocab: Vocab, texts: list[str], desc: str) -> list[Ids]:
    out: list[Ids] = []
    for start in tqdm(range(0, len(texts), 10_000), desc=desc, leave=False, disable=len(texts) < 20_000):
        out.extend(vocab.encode(texts[start : start + 10_000]))
    return out


def build_pool(
    pairs: dict[str, list[tuple[str, str]]],
    vocab: Vocab,
    *,
    pivot: str,
    alpha: float,
    docs: dict[str, list[list[str]]] | None = None,
    tasks: dict[str, dict[str, list[tuple]]] | None = None,
) -> Pool:
    """Tokenise parallel pairs (and optional documents) once; monolingual data is both sides, pivot de-duplicated.

    ``mono[pivot]`` is the distinct pivot texts in sorted order, ``mono[lang]`` the distinct token sequences
    of the language side in sorted order; pairs with an empty side are dropped, and so are empty sentences.
    """
    pool = Pool(pivot=pivot, alpha=alpha)
    pivot_texts = sorted({p for lang_pairs in pairs.values() for p, _ in lang_pairs})
    encoded = _encode_all(vocab, pivot_texts, f"tokenising {pivot}")
    kept = [(t, ids) for t, ids in zip(pivot_texts, encoded) if ids]
    del encoded
    pivot_row = {t: r for r, (t, _) in enumerate(kept)}
    pool.mono[pivot] = pivot_store = TokenStore.from_lists([ids for _, ids in kept])
    del kept
    for lang, lang_pairs in pairs.items():
        x_ids = [tuple(x) for x in _encode_all(vocab, [x for _, x in lang_pairs], f"tokenising {lang}")]
        distinct = sorted({x for x in x_ids if x})
        lang_row = {x: r for r, x in enumerate(distinct)}
        pool.mono[lang] = lang_store = TokenStore.from_lists(distinct)
        rows = [(pivot_row[p], lang_row[x]) for (p, _), x in zip(lang_pairs, x_ids) if x and p in pivot_row]
        index = np.array(rows, dtype=np.int32).reshape(-1, 2)
        pool.pairs[lang] = PairStore(pivot_store, lang_store, index[:, 0].copy(), index[:, 1].copy())
    for lang, documents in (docs or {}).items():
        encoded_docs = [TokenStore.from_lists(vocab.encode(doc)) for doc in documents if len(doc) >= 2]
        if encoded_docs:
            pool.docs[lang] = encoded_docs
    for task, by_lang in (tasks or {}).items():
        pool.tasks[task] = {lang: _encode_items(vocab, items, f"tokenising {task}/{lang}")
                            for lang, items in by_lang.items()}
    return pool


def _encode_items(vocab: Vocab, items: list[tuple], desc: str) -> RowStore:
    """Tokenise the string fields of task items (labels stay); drop items with an empty side."""
    cols = list(zip(*items)) if items else []
    is_text = [isinstance(c[0], str) for c in cols]
    cols = [_encode_all(vocab, list(c), desc) if text else list(c) for c, text in zip(cols, is_text)]
    keep = [r for r, row in enumerate(zip(*cols)) if all(v != [] for v in row)]
    return RowStore([TokenStore.from_lists([c[r] for r in keep]) if text else [c[r] for r in keep]
                     for c, text in zip(cols, is_text)])
