"""Data an objective can ask for, loaded by name: ``needs = ("docs",)`` on the objective class.

``pairs`` and ``mono`` come from ``data.corpus`` (every run loads its parallel corpus: the vocabulary is
trained on it); the loaders registered here add the rest. A loader takes the run config and returns
language -> items; :func:`interlingua.data.pool.build_pool` tokenises them (``docs``: ordered lists of
sentences, into ``Pool.docs``; any other loader: tuples of strings and ints, into ``Pool.tasks[name]``).
A new kind of data is a new ``@register("data", NAME)`` function here (or in the objective's own module).
"""
from __future__ import annotations

from collections.abc import Iterable

from interlingua import registry
from interlingua.config import RunConfig
from interlingua.data.paths import list_codes
from interlingua.data.tasks import sick_nli, xquad_qa
from interlingua.errors import CorpusError
from interlingua.registry import register

BUILT_IN = ("pairs", "mono")  # built from data.corpus by build_pool


@register("data", "docs")
def documents(cfg: RunConfig) -> dict[str, list[list[str]]]:
    """Ordered documents per language (Bible chapters or UDHR articles, ``data.documents``), for NSP."""
    from interlingua.data.sources import load_documents

    return load_documents(cfg.data.documents, cfg.data.langs)


@register("data", "verses")
def bible_verses(cfg: RunConfig) -> dict[str, list[tuple[str, str, int]]]:
    """(pivot verse, the language's verse, chapter number) in canonical order, for every run language with a
    Bible (CLMLM's parallel documents: consecutive items of one chapter number are consecutive verses)."""
    from interlingua.data.readers import read_bible
    from interlingua.data.sources import _codes_iso

    have = _codes_iso(list_codes("bible", ".tsv.gz"))
    langs = [lang for lang in cfg.data.langs if lang in have and lang != cfg.data.pivot]
    if not langs or cfg.data.pivot not in have:
        raise CorpusError(f"the Bible has none of data.langs {cfg.data.langs} with pivot {cfg.data.pivot} "
                          f"(it has {len(have)} languages: {', '.join(sorted(have)[:12])}, ...)")
    pivot = read_bible(cfg.data.pivot)
    out = {}
    for lang in langs:
        chapters: dict[str, int] = {}
        out[lang] = [(pivot[vid], text, chapters.setdefault(vid.rsplit(".", 1)[0], len(chapters)))
                     for vid, text in read_bible(lang).items() if vid in pivot]
    return out


@register("data", "xquad")
def xquad_questions(cfg: RunConfig) -> dict[str, list[tuple[str, str]]]:
    """(question, sentence holding its answer) from the XQuAD training articles, per run language it has."""
    have = set(list_codes("xquad", ".json.gz"))
    wanted = [lang for lang in dict.fromkeys([cfg.data.pivot, *cfg.data.langs]) if lang in have]
    if not wanted:
        raise CorpusError(f"XQuAD has none of {[cfg.data.pivot, *cfg.data.langs]} (it has {sorted(have)})")
    return {lang: xquad_qa(lang) for lang in wanted}


@register("data", "sick")
def sick_pairs(cfg: RunConfig) -> dict[str, list[tuple[str, str, int]]]:
    """(sentence A, sentence B, label) from SICK train, English."""
    return {"eng": sick_nli("train")}


def needed(objective_names: Iterable[str]) -> list[str]:
    """The loaders the named objectives declare, beyond the built-in pairs and mono, in first-seen order."""
    wanted = [n for name in objective_names for n in registry.get("objective", name).cls.needs]
    return [n for n in dict.fromkeys(wanted) if n not in BUILT_IN]


def load_needed(cfg: RunConfig) -> dict[str, dict[str, list]]:
    """Loader name -> language -> raw items, for every loader the configured objectives need."""
    out = {}
    for name in needed(cfg.objectives):
        out[name] = registry.get("data", name).cls(cfg)
    return out
