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

import csv
import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.data.paths import data_root
from interlingua.errors import CorpusError
from interlingua.mining import Embedder, embed, mine

ENGLISH = "eng_Latn"
FLORES_DIR = "flores200/devtest"
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


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def _tsv_columns(path: Path, columns: Sequence[str]) -> list[str]:
    """Values of the named columns of a headed .tsv.gz, row by row."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row[c] for row in rows for c in columns]


def _xquad_questions(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    return [qa["question"] for article in doc["data"] for para in article["paragraphs"]
            for qa in para["qas"]]


def flores_code(lang: str, root: Path) -> str:
    """``deu`` -> ``deu_Latn`` by the files present; a full code must exist as given."""
    names = sorted(p.name.removesuffix(".txt.gz") for p in (root / FLORES_DIR).glob("*.txt.gz"))
    if lang in names:
        return lang
    matches = [n for n in names if n.split("_")[0] == lang]
    if len(matches) != 1:
        found = f"candidates {matches}" if matches else "no such language"
        raise CorpusError(f"FLORES-200 code for {lang!r} under {root / FLORES_DIR}: {found}")
    return matches[0]


def _english_sources(root: Path) -> dict[str, list[str]]:
    return {
        "sick": [s for split in ("train", "trial")
                 for s in _tsv_columns(root / "sick" / f"{split}.tsv.gz",
                                       ("sentence_A", "sentence_B"))],
        "multi30k": _lines(root / "multi30k" / "train.eng.txt.gz"),
    }


def _foreign_sources(root: Path, code: str) -> dict[str, list[str]]:
    """The distractor sources that exist for a FLORES code, by name."""
    base = code.split("_")[0]

    def name(dataset: str) -> str:
        aliases = _ALIASES.get(dataset, {})
        return aliases.get(code, aliases.get(base, base))

    tatoeba, udhr = name("tatoeba"), name("udhr")
    bible = root / "bible" / f"{code}.tsv.gz"  # Chinese Bibles carry the script, others do not
    files = {
        "tatoeba": (root / "tatoeba" / f"{tatoeba}-eng.{tatoeba}.txt.gz", _lines),
        "bible": (bible if bible.is_file() else root / "bible" / f"{base}.tsv.gz",
                  lambda p: _tsv_columns(p, ("text",))),
        "udhr": (root / "udhr" / f"{udhr}.tsv.gz", lambda p: _tsv_columns(p, ("text",))),
        "xquad": (root / "xquad" / f"{name('xquad')}.json.gz", _xquad_questions),
    }
    return {src: read(path) for src, (path, read) in files.items() if path.is_file()}


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


def build_bucc_like(lang: str, n_distractors: int = 2000, seed: int = 0,
                    root: str | Path | None = None) -> BuccSet:
    """FLORES-200 devtest ``lang``-English plus ``n_distractors`` per side, shuffled by ``seed``.

    Both sides have 1012 + n_distractors sentences; ``gold`` holds the 1012 true pairs.
    """
    root = Path(root) if root is not None else data_root()
    code = flores_code(lang, root)
    if code == ENGLISH:
        raise CorpusError("build_bucc_like: the other side is always English; pick another language")
    src_flores = _lines(root / FLORES_DIR / f"{code}.txt.gz")
    tgt_flores = _lines(root / FLORES_DIR / f"{ENGLISH}.txt.gz")
    if len(src_flores) != len(tgt_flores):
        raise CorpusError(f"FLORES {code} has {len(src_flores)} lines, {ENGLISH} {len(tgt_flores)}")
    rng = np.random.default_rng(seed)
    src_extra = _sample_distractors(_foreign_sources(root, code), n_distractors, rng,
                                    set(src_flores), code)
    tgt_extra = _sample_distractors(_english_sources(root), n_distractors, rng,
                                    set(tgt_flores), ENGLISH)
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


def evaluate_mining(embedder: Embedder, langs: Iterable[str], *, n_distractors: int = 2000,
                    seed: int = 0, root: str | Path | None = None, batch_size: int = 256,
                    **mine_kwargs: Any) -> dict[str, float]:
    """Mine each ``lang``-English BUCC-like set; metrics ``bucc/<lang>-eng/<name>``.

    ``<name>``: precision / recall / f1 of everything ``mine`` returns (with ``mine_kwargs``, e.g.
    a threshold), and best_threshold / best_precision / best_recall / best_f1 at the oracle
    threshold. The embedder is called with ``lang`` as given and with "eng" for English.
    """
    metrics: dict[str, float] = {}
    for lang in langs:
        task = build_bucc_like(lang, n_distractors, seed, root)
        x = embed(embedder, task.src, lang, batch_size)
        y = embed(embedder, task.tgt, "eng", batch_size)
        pairs = mine(x, y, **mine_kwargs)
        prefix = f"bucc/{lang}-eng"
        metrics.update({f"{prefix}/{k}": v for k, v in score_mined(pairs, task.gold).items()})
        best = best_threshold(pairs, task.gold)
        metrics[f"{prefix}/best_threshold"] = best.pop("threshold")
        metrics.update({f"{prefix}/best_{k}": v for k, v in best.items()})
    return metrics
