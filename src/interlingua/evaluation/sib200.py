"""SIB-200: zero-shot cross-lingual topic classification (Adelani et al., EACL 2024).

Seven topics; a classifier is trained on the English train split (701 sentences), selected on English dev
(99) and evaluated on one split of every language. The texts are multi-way parallel FLORES-200 sentences,
so every language is scored on the same sentences. The shared corpora hold train and dev only (the test
split is withheld), so ``dev`` is the default evaluation split; English dev then is both the selection set
and one of the evaluated languages, and its score is optimistic.

Two modes:

* ``probe`` (default): frozen sentence vectors (the embedder's ``encode``) and a multinomial logistic
  regression whose C is the best of :data:`C_GRID` on English dev. An embedder with ``fit`` (char
  TF-IDF) is fitted once, on the English train texts, so every language is read with English's n-grams.
* ``finetune``: the benchmark's XLM-R baseline, encoder and a linear head trained on English train
  (:mod:`interlingua.evaluation.sib200_finetune`).

Data layout (``--data DIR`` reads any folder like it): ``<lang_Script>/<split>.tsv.gz`` (or ``.tsv``),
header ``index_id<TAB>category<TAB>text``. Result: per-language accuracy (%) keyed by ``lang_Script``,
their mean, metrics ``sib200/<lang_Script>/acc`` and ``sib200/average/acc``.

Reference: Adelani et al., "SIB-200: A Simple, Inclusive, and Big Evaluation Dataset for Topic
Classification in 200+ Languages and Dialects", EACL 2024. https://github.com/dadelani/sib-200
"""
from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import numpy as np
from tqdm.auto import tqdm

from interlingua import registry
from interlingua.data.langcodes import pick_variant, to_iso3
from interlingua.data.paths import data_root
from interlingua.data.readers import read_lines
from interlingua.errors import ConfigError, CorpusError
from interlingua.evaluation.embedders import Embedder
from interlingua.evaluation.tasks import cli_flag

HEADER = ("index_id", "category", "text")
LABELS = ("entertainment", "geography", "health", "politics", "science/technology", "sports", "travel")
ENGLISH = "eng_Latn"
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)  # unit-norm vectors have small coordinates: C up to 1e3
COLUMNS = (("accuracy", "acc"),)


@dataclass(frozen=True)
class SibSplit:
    """One language's split: texts and label indices (into :data:`LABELS`), in file order."""

    lang: str  # the folder name, e.g. "deu_Latn"
    texts: list[str]
    labels: np.ndarray  # (N,) int64
    ids: list[str]  # index_id: the FLORES-200 dev+devtest row


def read_sib(path: str | Path) -> SibSplit:
    """Read one ``<lang_Script>/<split>.tsv(.gz)``; a bad header, row or label raises naming file:line."""
    path = Path(path)
    lines = read_lines(path)
    expected = "<TAB>".join(HEADER)
    if not lines:
        raise CorpusError(f"{path}: empty; a SIB-200 file starts with the header {expected}")
    if lines[0].split("\t") != list(HEADER):
        raise CorpusError(f"{path}:1: header is {lines[0].replace(chr(9), '<TAB>')!r}, expected {expected}")
    texts, labels, ids = [], [], []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(HEADER):
            raise CorpusError(f"{path}:{lineno}: {len(fields)} tab-separated fields, expected {len(HEADER)} ({expected})")
        index_id, category, text = fields
        if category not in LABELS:
            raise CorpusError(f"{path}:{lineno}: unknown category {category!r}; SIB-200's are {', '.join(LABELS)}")
        if not text.strip():
            raise CorpusError(f"{path}:{lineno}: empty text")
        texts.append(text)
        labels.append(LABELS.index(category))
        ids.append(index_id)
    if not texts:
        raise CorpusError(f"{path}: a header and no rows")
    return SibSplit(path.parent.name, texts, np.asarray(labels, dtype=np.int64), ids)


def split_file(root: Path, code: str, split: str) -> Path | None:
    """``root/code/split.tsv.gz`` (or ``.tsv``) when present."""
    return next((p for ext in (".tsv.gz", ".tsv") if (p := root / code / f"{split}{ext}").is_file()), None)


def read_split(root: Path, code: str, split: str) -> SibSplit:
    path = split_file(root, code, split)
    if path is None:
        raise CorpusError(f"sib200: no {code}/{split}.tsv.gz under {root}")
    return read_sib(path)


def sib_root(data: str | Path | None) -> Path:
    """The folder given by ``--data``, else ``sib200/`` of the shared corpora."""
    root = Path(data).expanduser() if data is not None else data_root() / "sib200"
    if not root.is_dir():
        raise CorpusError(f"sib200: {root} is not a folder (--data takes a folder of <lang_Script>/<split>.tsv.gz)")
    return root


def resolve_langs(langs: list[str] | None, root: Path, split: str) -> list[str]:
    """``lang_Script`` folders for ISO 639-3 or ``lang_Script`` codes (None = every folder with ``split``).

    A bare ISO 639-3 code takes the variant FLORES uses (``zho`` -> ``zho_Hans``, ``ara`` -> ``arb_Arab``);
    a ``lang_Script`` code that is absent is an error, never another script.
    """
    codes = sorted(p.name for p in root.iterdir() if split_file(root, p.name, split))
    if not codes:
        raise CorpusError(f"sib200: no <lang_Script>/{split}.tsv.gz under {root}")
    if langs is None:
        return codes
    if not langs:
        raise ConfigError("sib200: empty language list")
    out = []
    for lang in langs:
        iso = to_iso3(lang)
        code = lang if lang in codes else pick_variant(iso, codes) if iso and "_" not in lang else None
        if code is None:
            same = [c for c in codes if iso and to_iso3(c) == iso]
            close = same + [c for c in difflib.get_close_matches(lang, codes, n=5, cutoff=0.6) if c not in same]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"sib200: no {split} split for language {lang!r} under {root}{hint}")
        out.append(code)
    return list(dict.fromkeys(out))


def accuracy(predicted: np.ndarray, gold: np.ndarray) -> float:
    """Percent of equal entries."""
    return 100.0 * float(np.mean(np.asarray(predicted) == np.asarray(gold)))


def fit_probe(x_train, y_train: np.ndarray, x_dev, y_dev: np.ndarray, grid: tuple[float, ...] = C_GRID):
    """(classifier, C, dev accuracy %): the logistic regression of ``grid`` best on dev (ties: smaller C).

    ``x`` are dense arrays or scipy sparse matrices.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in grid:
        clf = LogisticRegression(C=c, max_iter=2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a large C on separable data: the best is kept
            clf.fit(x_train, y_train)
        acc = accuracy(clf.predict(x_dev), y_dev)
        if best is None or acc > best[2]:
            best = (clf, c, acc)
    return best


def _probe(embedder: Embedder, train: SibSplit, dev: SibSplit, evaluated: dict[str, SibSplit],
           bar: tqdm) -> tuple[dict[str, float], dict]:
    fit = getattr(embedder, "fit", None)
    if callable(fit):
        fit(train.texts)  # once: the classifier's features must mean the same in every language
    eng = to_iso3(ENGLISH)
    clf, c, dev_acc = fit_probe(embedder.encode(train.texts, eng), train.labels, embedder.encode(dev.texts, eng),
                                dev.labels)
    scores = {}
    for code, split in evaluated.items():
        bar.set_postfix_str(code)
        scores[code] = accuracy(clf.predict(embedder.encode(split.texts, to_iso3(code) or code)), split.labels)
        bar.update()
    return scores, {"C": c, "eng_dev_accuracy": dev_acc}


@cli_flag("--data", help="sib200: folder of <lang_Script>/<split>.tsv.gz (default: the corpora's sib200/)")
@cli_flag("--split", help="sib200: split evaluated in every language (default dev; the shared data has no test)")
@cli_flag("--probe", dest="finetune", action="store_false",
          help="sib200: logistic regression on frozen sentence vectors, C chosen on English dev (default)")
@cli_flag("--finetune", dest="finetune", action="store_true",
          help="sib200: train encoder + linear head on English train, checkpoint chosen on English dev")
@cli_flag("--steps", type=int, help="sib200 --finetune: optimiser steps (default 200, batch 32)")
@cli_flag("--eval-every", type=int, help="sib200 --finetune: English dev accuracy every N steps (default 50)")
@cli_flag("--lr", type=float, help="sib200 --finetune: AdamW learning rate (default 1e-5)")
@registry.register("evaluator", "sib200", description="SIB-200 topic classification, trained on English, accuracy")
def evaluate_sib200(embedder: Embedder, langs: list[str] | None = None, *, data: str | None = None,
                    split: str = "dev", finetune: bool = False, steps: int | None = None,
                    eval_every: int | None = None, lr: float | None = None, seed: int = 0,
                    progress: bool = True) -> dict:
    """Train on English train, select on English dev, score ``split`` of ``langs`` (None = all); see module doc.

    ``steps``, ``eval_every`` and ``lr`` are fine-tuning options (None: :class:`FinetuneConfig`'s defaults).
    """
    tuning = {k: v for k, v in (("steps", steps), ("eval_every", eval_every), ("lr", lr)) if v is not None}
    if tuning and not finetune:
        flags = ", ".join("--" + k.replace("_", "-") for k in tuning)
        raise ConfigError(f"sib200: the fine-tuning options {flags} need --finetune")
    if finetune:  # checked before any data is read
        from interlingua.evaluation.sib200_finetune import FinetuneConfig, finetune_and_score

        cfg = FinetuneConfig(**tuning, seed=seed)
    root = sib_root(data)
    codes = resolve_langs(langs, root, split)
    train, dev = read_split(root, ENGLISH, "train"), read_split(root, ENGLISH, "dev")
    evaluated = {code: read_split(root, code, split) for code in codes}
    mode = "finetune" if finetune else "probe"
    name = getattr(embedder, "name", type(embedder).__name__)
    with tqdm(total=len(codes), desc=f"sib200 {mode} [{name}]", unit="lang", disable=not progress) as bar:
        if finetune:
            scores, selection = finetune_and_score(embedder, train, dev, evaluated, cfg, bar)
        else:
            scores, selection = _probe(embedder, train, dev, evaluated, bar)
    per_lang = {code: {"accuracy": scores[code], "n": len(evaluated[code].texts)} for code in codes}
    average = {"accuracy": fmean(scores.values())}
    metrics = {f"sib200/{code}/acc": s for code, s in scores.items()} | {"sib200/average/acc": average["accuracy"]}
    return {
        "task": "sib200", "model": name if mode == "probe" else f"{name}+finetune", "mode": mode, "split": split,
        "data": str(root), "title": f"SIB-200 topic accuracy, trained on English, {split} split ({mode})",
        "selection": selection, "langs": per_lang, "average": average, "columns": COLUMNS,
        "score": ("accuracy", f"{split} accuracy (%)"), "metrics": metrics,
    }
