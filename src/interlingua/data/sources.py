"""What the trainer reads: parallel pairs and ordered documents, picked by ``DataConfig``.

Each corpus resolves the configured languages (any code form, see ``langcodes``) against what it
actually has, so an unknown language fails before training with close-code suggestions, and an empty
result names the language and the corpus.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from interlingua.config import DataConfig
from interlingua.data import readers
from interlingua.data.gettext_corpus import gettext_languages, harvest_gettext
from interlingua.data.langcodes import check_lang, tatoeba_codes, to_iso3
from interlingua.data.paths import list_codes
from interlingua.data.sampling import smoothed_probs
from interlingua.errors import CorpusError

PARALLEL_CORPORA = ("gettext", "bible", "multi30k", "flores", "tatoeba", "files")
DOCUMENT_CORPORA = ("bible", "udhr")

Pair = tuple[str, str]


@dataclass
class ParallelData:
    """Pairs per language, pivot side first: ``pairs[lang] = [(pivot_text, lang_text), ...]``."""

    pivot: str
    pairs: dict[str, list[Pair]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {lang: len(p) for lang, p in self.pairs.items()}


def seeded_head(items: list[Pair], n: int, seed: int = 0) -> list[Pair]:
    """The first ``n`` items after a shuffle with ``seed``; everything, in order, when n <= 0 or n >= len."""
    if n <= 0 or n >= len(items):
        return list(items)
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:n]


def _require_english_pivot(corpus: str, pivot: str) -> None:
    if to_iso3(pivot) != "eng":
        raise CorpusError(f"corpus {corpus} pairs every language with English; set data.pivot=eng (got {pivot})")


def _codes_iso(codes: list[str]) -> set[str]:
    return {to_iso3(c) or c for c in codes}


def _gettext(cfg: DataConfig, langs: list[str]) -> dict[str, list[Pair]]:
    _require_english_pivot("gettext", cfg.pivot)
    known = gettext_languages()
    isos = [check_lang(lang, known) for lang in langs]
    harvested = harvest_gettext(langs=isos)
    return {iso: harvested.get(iso, []) for iso in isos}


def _bible(cfg: DataConfig, langs: list[str]) -> dict[str, list[Pair]]:
    known = _codes_iso(list_codes("bible", ".tsv.gz"))
    pivot = check_lang(cfg.pivot, known)
    return {iso: readers.bible_pairs(pivot, iso) for iso in (check_lang(lang, known) for lang in langs)}


def _multi30k(cfg: DataConfig, langs: list[str]) -> dict[str, list[Pair]]:
    _require_english_pivot("multi30k", cfg.pivot)
    known = {c.split(".")[1] for c in list_codes("multi30k", ".txt.gz")} - {"eng"}
    eng = readers.read_multi30k("eng", "train")
    out = {}
    for iso in (check_lang(lang, known) for lang in langs):
        out[iso] = list(zip(eng, readers.read_multi30k(iso, "train")))
    return out


def _flores(cfg: DataConfig, langs: list[str]) -> dict[str, list[Pair]]:
    known = _codes_iso(list_codes("flores200/devtest", ".txt.gz"))
    pivot = readers.read_flores(check_lang(cfg.pivot, known))
    out = {}
    for iso in (check_lang(lang, known) for lang in langs):
        out[iso] = list(zip(pivot, readers.read_flores(iso)))
    return out


def _tatoeba(cfg: DataConfig, langs: list[str]) -> dict[str, list[Pair]]:
    _require_english_pivot("tatoeba", cfg.pivot)
    known = _codes_iso(tatoeba_codes())
    out = {}
    for iso in (check_lang(lang, known) for lang in langs):
        xx, eng = readers.read_tatoeba(iso)
        out[iso] = list(zip(eng, xx))
    return out


def parse_file_specs(specs: list[str]) -> dict[str, list[str]]:
    """``["deu=a.en,a.de", "fra=b.tsv"]`` -> ``{"deu": ["a.en,a.de"], "fra": ["b.tsv"]}`` (ISO 639-3 keys)."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        lang, sep, paths = spec.partition("=")
        iso = to_iso3(lang)
        if not sep or not paths.strip() or iso is None:
            raise CorpusError(f"data.files entry {spec!r}: expected LANG=SRC.txt,TGT.txt or LANG=file.tsv")
        out.setdefault(iso, []).append(paths.strip())
    return out


def _files(cfg: DataConfig, langs: list[str]) -> dict[str, list[Pair]]:
    # The languages are those named in data.files; data.langs does not apply to this corpus.
    if not cfg.files:
        raise CorpusError("data.corpus=files needs data.files entries such as deu=train.en,train.de")
    pivot = to_iso3(cfg.pivot) or cfg.pivot
    return {
        iso: [pair for path in paths for pair in readers.read_user_pairs(
            path, pivot=pivot, lang=iso, skip_invalid=cfg.skip_invalid_utf8)]
        for iso, paths in parse_file_specs(cfg.files).items()
    }


_LOADERS: dict[str, Callable[[DataConfig, list[str]], dict[str, list[Pair]]]] = {
    "gettext": _gettext,
    "bible": _bible,
    "multi30k": _multi30k,
    "flores": _flores,
    "tatoeba": _tatoeba,
    "files": _files,
}


_KNOWN: dict[str, Callable[[DataConfig], set[str]]] = {
    "gettext": lambda cfg: set(gettext_languages()),
    "bible": lambda cfg: _codes_iso(list_codes("bible", ".tsv.gz")),
    "multi30k": lambda cfg: {c.split(".")[1] for c in list_codes("multi30k", ".txt.gz")},
    "flores": lambda cfg: _codes_iso(list_codes("flores200/devtest", ".txt.gz")),
    "tatoeba": lambda cfg: _codes_iso(tatoeba_codes()),
    "files": lambda cfg: set(parse_file_specs(cfg.files)),
}


def _corpus_langs(cfg: DataConfig, names: list[str], pivot: str) -> list[tuple[str, list[str]]]:
    """Which of ``cfg.langs`` each corpus supplies; ``all`` means every language any of them has."""
    known = {name: _KNOWN[name](cfg) - {pivot} for name in names}
    union = set().union(*known.values())
    if [lang.lower() for lang in cfg.langs] == ["all"]:
        wanted = sorted(union)
    else:
        wanted = [check_lang(lang, union) for lang in cfg.langs]
    return [(name, [lang for lang in wanted if lang in known[name]]) for name in names]


def load_parallel(cfg: DataConfig) -> ParallelData:
    """Pairs for ``cfg.langs`` against ``cfg.pivot`` from ``cfg.corpus``, capped per language.

    ``cfg.corpus`` may join several corpora with ``+`` (``bible+gettext``): a language's pairs are then
    those of every corpus that has it. ``cfg.langs = [all]`` takes every language the corpora have.
    The cap (``cfg.max_pairs_per_lang`` > 0) keeps the first N pairs after a shuffle with seed 0,
    so it is the same subset on every run and every process.
    """
    names = cfg.corpus.split("+")
    unknown = [n for n in names if n not in _LOADERS]
    if unknown:
        raise CorpusError(f"unknown data.corpus {unknown[0]!r}; expected one of {', '.join(PARALLEL_CORPORA)}"
                          " (several joined by +)")
    pivot = to_iso3(cfg.pivot) or cfg.pivot
    if any(to_iso3(lang) == pivot for lang in cfg.langs) and cfg.corpus != "files":
        raise CorpusError(f"data.langs lists the pivot {pivot}; the pivot side is paired with every language")
    single = len(names) == 1 and [lang.lower() for lang in cfg.langs] != ["all"]
    per_corpus = [(names[0], list(cfg.langs))] if single else _corpus_langs(cfg, names, pivot)
    raw: dict[str, list[Pair]] = {}
    for name, langs in per_corpus:
        for lang, lang_pairs in (_LOADERS[name](cfg, langs) if langs else {}).items():
            raw.setdefault(lang, []).extend(lang_pairs)
    pairs: dict[str, list[Pair]] = {}
    for lang, lang_pairs in raw.items():
        kept = [(p.strip(), x.strip()) for p, x in lang_pairs if p.strip() and x.strip()]
        if not kept and single:
            raise CorpusError(f"corpus {cfg.corpus} has no pairs for language {lang} (pivot {pivot})")
        if kept:  # with `all` or joined corpora, a language that cleans down to nothing is left out
            pairs[lang] = seeded_head(kept, cfg.max_pairs_per_lang, seed=0)
    if not pairs:
        raise CorpusError(f"corpus {cfg.corpus} has no pairs for {', '.join(cfg.langs)}")
    return ParallelData(pivot=pivot, pairs=pairs)


def load_documents(name: str, langs: list[str]) -> dict[str, list[list[str]]]:
    """Ordered documents per language for NSP: Bible chapters or UDHR articles."""
    if name not in DOCUMENT_CORPORA:
        raise CorpusError(f"unknown document corpus {name!r}; expected one of {', '.join(DOCUMENT_CORPORA)}")
    known = _codes_iso(list_codes(name, ".tsv.gz"))
    reader = readers.bible_documents if name == "bible" else readers.udhr_documents
    docs = {}
    for iso in (check_lang(lang, known) for lang in langs):
        docs[iso] = [doc for doc in reader(iso) if doc]
        if not docs[iso]:
            raise CorpusError(f"document corpus {name} has no documents for language {iso}")
    return docs


def corpus_stats(data: ParallelData, alpha: float) -> list[dict[str, object]]:
    """One row per language: ``{"lang", "pairs", "prob"}`` with prob = n^alpha / sum n^alpha."""
    counts = data.counts()
    probs = smoothed_probs(counts, alpha)
    return [{"lang": lang, "pairs": n, "prob": probs[lang]} for lang, n in counts.items()]
