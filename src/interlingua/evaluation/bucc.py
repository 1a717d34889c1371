"""A BUCC-like bitext mining benchmark built from FLORES-200 devtest.

BUCC 2017/2018 hides a few thousand true translation pairs inside large monolingual corpora and
asks a system to find them. Here the true pairs are the 1012 multi-way parallel FLORES-200 devtest
lines of a language and English; each side is padded with ``n_distractors`` sentences of its own
language that have no translation on the other side, and each side is shuffled with the seed.

Distractors (none is a translation of anything on the other side, by choice of sources):

* English side: SICK sentences (English only) and Multi30k train English captions. Tatoeba,
  Bible, UDHR and XQuAD English are left out because their other-language sides are used below.
* Other side: Tatoeba (the xx side only), New Testament, UDHR and XQuAD questions in that
  language, whichever exist. Multi30k is left out there: its captions describe Flickr images
  that SICK's captions may describe too. FLORES lines of other languages are never used.

Sources are drawn from in equal shares (a small source gives its share to the others), so the
distractors are not all Bible verses just because the Bible is the largest file.

Scoring as BUCC: precision, recall and F1 of the mined pairs against the gold alignment, and the
F1 at the best score threshold (BUCC tunes it on the training data; we report the oracle).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

import numpy as np

from interlingua import registry
from interlingua.data.langcodes import flores_code
from interlingua.data.paths import corpus_file, data_root
from interlingua.data.readers import read_bible, read_flores, read_lines, read_multi30k, read_udhr
from interlingua.data.tasks import sick_nli, xquad_qa
from interlingua.errors import ConfigError, CorpusError, NotApplicable
from interlingua.mining import Embedder, embed, mine

ENGLISH = "eng_Latn"
# Where a dataset's file name differs from the FLORES base code (or picks one of several variants).
_ALIASES: dict[str, dict[str, str]] = {
    "tatoeba": {"zho": "cmn"},
    "udhr": {"zho_Hans": "cmn_Hans", "zho_Hant": "cmn_Hant", "deu": "deu_1996"},
    "xquad": {"zho_Hans": "zho"},  # XQuAD's Chinese is Simplified
}


@dataclass(frozen=True)
class BuccSet:
    """One mining task: ``src`` (the other language) and ``tgt`` (English), BUCC's xx-en order."""

    lang: str  # FLORES code of the source side, e.g. "deu_Latn"
    src: list[str]
    tgt: list[str]
    gold: frozenset[tuple[int, int]]  # (src_idx, tgt_idx) of the FLORES pairs


def _has(rel: str) -> bool:
    return (data_root() / rel).is_file()


def _english_sources() -> dict[str, list[str]]:
    return {
        "sick": [s for split in ("train", "trial") for a, b, _ in sick_nli(split) for s in (a, b)],
        "multi30k": read_multi30k("eng", "train"),
    }


def _foreign_sources(code: str) -> dict[str, list[str]]:
    """The distractor sources that exist for a FLORES code, by name.

    Files are picked by exact name (after ``_ALIASES``), not by the readers' language folding, so that a
    script is never swapped: ``zho_Hant`` must not get the Simplified UDHR.
    """
    base = code.split("_")[0]

    def name(dataset: str) -> str:
        aliases = _ALIASES.get(dataset, {})
        return aliases.get(code, aliases.get(base, base))

    tatoeba, udhr, xquad = name("tatoeba"), name("udhr"), name("xquad")
    tatoeba_xx = f"tatoeba/{tatoeba}-eng.{tatoeba}.txt.gz"  # the xx side only
    bible = code if _has(f"bible/{code}.tsv.gz") else base  # Chinese Bibles carry the script, others do not
    files = {
        "tatoeba": (tatoeba_xx, lambda: read_lines(corpus_file(tatoeba_xx))),
        "bible": (f"bible/{bible}.tsv.gz", lambda: list(read_bible(bible).values())),
        "udhr": (f"udhr/{udhr}.tsv.gz", lambda: read_udhr(udhr)),
        "xquad": (f"xquad/{xquad}.json.gz", lambda: [q for q, _ in xquad_qa(xquad, slice(None))]),
    }
    return {src: read() for src, (rel, read) in files.items() if _has(rel)}


def _sample_distractors(sources: dict[str, list[str]], n: int, rng: np.random.Generator,
                        exclude: set[str], side: str) -> list[str]:
    """n distinct sentences, equal shares per source, none blank or in ``exclude``."""
    seen = set(exclude)
    pools: list[list[str]] = []
    for sentences in sources.values():
        pool = [s for s in dict.fromkeys(sentences) if s.strip() and s not in seen]
        seen.update(pool)
        pools.append([pool[i] for i in rng.permutation(len(pool))])
    available = sum(len(p) for p in pools)
    if available < n:
        raise CorpusError(f"{side}: {n} distractors asked, only {available} in {list(sources)}")
    chosen: list[str] = []
    # Smallest pools first, so each pool that cannot fill its share hands the rest to the larger.
    for left, pool in zip(range(len(pools), 0, -1), sorted(pools, key=len)):
        share = -(-(n - len(chosen)) // left)  # ceil, so the shares add up to n
        chosen.extend(pool[:share])
    assert len(chosen) == n, (len(chosen), n)
    return chosen


def _shuffle(items: list[str], rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Shuffled items and, per original index, its new position."""
    order = rng.permutation(len(items))
    position = np.empty(len(items), dtype=np.int64)
    position[order] = np.arange(len(items))
    return [items[i] for i in order], position


def build_bucc_like(lang: str, n_distractors: int = 2000, seed: int = 0) -> BuccSet:
    """FLORES-200 devtest ``lang``-English plus ``n_distractors`` per side, shuffled by ``seed``.

    ``lang`` is ISO 639-3 or a FLORES ``lang_Script`` code; the corpora are read from ``data_root()``
    (``$INTERLINGUA_DATA``). Both sides have 1012 + n_distractors sentences; ``gold`` holds the 1012 true pairs.
    """
    code = flores_code(lang)
    if code is None:
        read_flores(lang)  # raises the reader's CorpusError, with the close codes
    if code == ENGLISH:
        raise CorpusError("build_bucc_like: the other side is always English; pick another language")
    src_flores, tgt_flores = read_flores(code), read_flores(ENGLISH)
    if len(src_flores) != len(tgt_flores):
        raise CorpusError(f"FLORES {code} has {len(src_flores)} lines, {ENGLISH} {len(tgt_flores)}")
    rng = np.random.default_rng(seed)
    src_extra = _sample_distractors(_foreign_sources(code), n_distractors, rng, set(src_flores), code)
    tgt_extra = _sample_distractors(_english_sources(), n_distractors, rng, set(tgt_flores), ENGLISH)
    src, src_pos = _shuffle(src_flores + src_extra, rng)
    tgt, tgt_pos = _shuffle(tgt_flores + tgt_extra, rng)
    gold = frozenset((int(src_pos[i]), int(tgt_pos[i])) for i in range(len(src_flores)))
    return BuccSet(code, src, tgt, gold)


def _index_pairs(pairs: Iterable[Sequence[Any]]) -> set[tuple[int, int]]:
    # Accept mine()'s (score, i, j) as well as bare (i, j): the indices are the last two fields.
    return {(int(p[-2]), int(p[-1])) for p in pairs}


def _prf(correct: int, mined: int, gold: int) -> dict[str, float]:
    precision = correct / mined if mined else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def score_mined(pairs: Iterable[Sequence[Any]], gold: Iterable[tuple[int, int]]) -> dict[str, float]:
    """Precision, recall and F1 of mined pairs, given as (i, j) or (score, i, j)."""
    mined, gold = _index_pairs(pairs), set(gold)
    return _prf(len(mined & gold), len(mined), len(gold))


def best_threshold(pairs: Sequence[tuple[float, int, int]],
                   gold: Iterable[tuple[int, int]]) -> dict[str, float]:
    """The score threshold (keep score >= t) with the best F1, and its precision / recall / F1.

    Only cuts between distinct scores are tried: tied pairs are kept or dropped together.
    """
    gold = set(gold)
    ranked = sorted(pairs, key=lambda p: -p[0])
    best = {"threshold": float("inf"), **_prf(0, 0, len(gold))}
    correct = 0
    for rank, (score, i, j) in enumerate(ranked, start=1):
        correct += (i, j) in gold
        if rank < len(ranked) and ranked[rank][0] == score:
            continue
        cut = _prf(correct, rank, len(gold))
        if cut["f1"] > best["f1"]:
            best = {"threshold": float(score), **cut}
    return best


COLUMNS = (("precision", "P"), ("recall", "R"), ("f1", "F1"), ("best_f1", "best F1"))


@registry.register("evaluator", "bucc", description="BUCC-like bitext mining in FLORES-200 + distractors, F1")
def evaluate_mining(embedder: Embedder, langs: list[str] | None, *, n_distractors: int = 2000, seed: int = 0,
                    batch_size: int = 256, k: int = 4, margin: str = "ratio", mode: str = "union",
                    threshold: float | None = None) -> dict:
    """Mine each ``lang``-English BUCC-like set (``k``, ``margin``, ``mode``, ``threshold`` go to ``mine``).

    Per language, in percent: precision / recall / f1 of everything ``mine`` returns, and best_precision /
    best_recall / best_f1 at the oracle threshold, plus that threshold (a margin score) and ``n``, the gold
    pairs; ``average`` is their macro mean (threshold aside). Metrics ``bucc/<lang>-eng/<name>`` and ``bucc/average/<name>``.
    The embedder is called with ``lang`` as given and with "eng" for English.
    """
    if callable(getattr(embedder, "fit", None)):
        raise NotApplicable(f"bucc mines dense vectors with faiss; {getattr(embedder, 'name', embedder)} fits "
                            "sparse features per corpus")
    langs = list(langs or [])
    if not langs:
        raise ConfigError("bucc: name the languages to mine (--langs deu,fra); each set is built from FLORES-200")
    per_lang: dict[str, dict[str, float]] = {}
    for lang in langs:
        task = build_bucc_like(lang, n_distractors, seed)
        x = embed(embedder, task.src, lang, batch_size)
        y = embed(embedder, task.tgt, "eng", batch_size)
        pairs = mine(x, y, k=k, margin=margin, mode=mode, threshold=threshold)
        best = best_threshold(pairs, task.gold)
        scores = {**score_mined(pairs, task.gold), **{f"best_{m}": best[m] for m in ("precision", "recall", "f1")}}
        per_lang[lang] = {**{m: 100 * v for m, v in scores.items()}, "best_threshold": best["threshold"],
                          "n": len(task.gold)}
    names = [m for m in per_lang[langs[0]] if m != "n"]
    average = {m: fmean(scores[m] for scores in per_lang.values()) for m in names if m != "best_threshold"}
    metrics = {f"bucc/{lang}-eng/{m}": scores[m] for lang, scores in per_lang.items() for m in names}
    metrics.update({f"bucc/average/{m}": v for m, v in average.items()})
    return {"task": "bucc", "model": getattr(embedder, "name", type(embedder).__name__), "pivot": "eng",
            "n_distractors": n_distractors, "seed": seed, "langs": per_lang, "average": average,
            "columns": COLUMNS, "score": ("best_f1", "F1 at the best threshold (%)"), "metrics": metrics}
