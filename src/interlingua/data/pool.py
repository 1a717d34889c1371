"""Tokenised training data and seeded, language-smoothed sampling from it.

Everything an objective draws is a pure function of a ``torch.Generator``: the trainer seeds one per
(step, objective), so a resumed or data-parallel run sees exactly the batches an uninterrupted
single-process run sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from interlingua.data.sampling import sample_languages, smoothed_probs
from interlingua.errors import CorpusError
from interlingua.tokenization.vocab import Vocab

Ids = list[int]


@dataclass
class Pool:
    pivot: str
    alpha: float
    mono: dict[str, list[Ids]] = field(default_factory=dict)
    pairs: dict[str, list[tuple[Ids, Ids]]] = field(default_factory=dict)  # lang -> (pivot ids, lang ids)
    docs: dict[str, list[list[Ids]]] = field(default_factory=dict)
    tasks: dict[str, dict[str, list[tuple]]] = field(default_factory=dict)
    """Task name -> lang -> items: tuples of token ids and ints, e.g. ``qa`` (q, answer), ``nli`` (a, b, label)."""

    def _draw(self, table: dict[str, list], n: int, gen: torch.Generator, what: str) -> list[tuple[str, object]]:
        if not table:
            raise CorpusError(f"this objective needs {what}, and the configured data has none")
        probs = smoothed_probs({lang: len(items) for lang, items in table.items()}, self.alpha)
        langs = sample_languages(probs, n, gen)
        picks = [int(torch.randint(len(table[lang]), (1,), generator=gen)) for lang in langs]
        return [(lang, table[lang][i]) for lang, i in zip(langs, picks)]

    def sample_mono(self, n: int, gen: torch.Generator) -> list[tuple[str, Ids]]:
        return self._draw(self.mono, n, gen, "monolingual sentences")  # type: ignore[return-value]

    def sample_pairs(self, n: int, gen: torch.Generator) -> list[tuple[str, tuple[Ids, Ids]]]:
        return self._draw(self.pairs, n, gen, "parallel pairs")  # type: ignore[return-value]

    def sample_docs(self, n: int, gen: torch.Generator) -> list[tuple[str, list[Ids]]]:
        return self._draw(self.docs, n, gen, "documents (data.documents)")  # type: ignore[return-value]

    def sample_task(self, task: str, n: int, gen: torch.Generator) -> list[tuple[str, tuple]]:
        return self._draw(self.tasks.get(task, {}), n, gen, f"{task} task data")  # type: ignore[return-value]


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
    """Tokenise parallel pairs (and optional documents) once; monolingual data is both sides, pivot de-duplicated."""
    pool = Pool(pivot=pivot, alpha=alpha)
    pivot_texts = sorted({p for lang_pairs in pairs.values() for p, _ in lang_pairs})
    pivot_ids = dict(zip(pivot_texts, _encode_all(vocab, pivot_texts, f"tokenising {pivot}")))
    pool.mono[pivot] = [pivot_ids[t] for t in pivot_texts if pivot_ids[t]]
    for lang, lang_pairs in pairs.items():
        x_ids = _encode_all(vocab, [x for _, x in lang_pairs], f"tokenising {lang}")
        pool.pairs[lang] = [(pivot_ids[p], x) for (p, _), x in zip(lang_pairs, x_ids) if x and pivot_ids[p]]
        pool.mono[lang] = sorted({tuple(x) for x in x_ids if x})  # type: ignore[arg-type]
        pool.mono[lang] = [list(x) for x in pool.mono[lang]]
    for lang, documents in (docs or {}).items():
        encoded = [vocab.encode(doc) for doc in documents if len(doc) >= 2]
        if encoded:
            pool.docs[lang] = encoded
    for task, by_lang in (tasks or {}).items():
        pool.tasks[task] = {lang: _encode_items(vocab, items, f"tokenising {task}/{lang}")
                            for lang, items in by_lang.items()}
    return pool


def _encode_items(vocab: Vocab, items: list[tuple], desc: str) -> list[tuple]:
    """Tokenise the string fields of task items (labels stay); drop items with an empty side."""
    cols = list(zip(*items)) if items else []
    cols = [_encode_all(vocab, list(c), desc) if isinstance(c[0], str) else list(c) for c in cols]
    return [row for row in zip(*cols) if all(v != [] for v in row)]
