"""The sentences behind ``POST /search``: read from text or TSV files, embedded once, searched with FAISS.

Sources (``--index``, repeatable):
    PATH.txt[.gz]        one sentence per line, no language
    LANG:PATH.txt[.gz]   one sentence per line, all in LANG (ISO 639-3, optionally with a script: deu_Latn)
    PATH.tsv[.gz]        ``lang<TAB>sentence`` lines
Blank lines are skipped and a (language, sentence) seen twice is kept once.

A built index can be saved (``--index-file PATH``): the FAISS file at PATH and a sidecar ``PATH.json`` holding
the sentences, their languages, the model's fingerprint, the sources' sizes and modification times and the
FAISS file's SHA-256. Each file is written to a temporary name and renamed, the FAISS file first, so a killed
write leaves either the old pair or a sidecar whose checksum does not match (rebuilt, never half-read). On
start-up a saved index is reused when model and sources are unchanged, else rebuilt and saved again.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from interlingua.data.readers import read_lines
from interlingua.encoding import SentenceEncoder
from interlingua.errors import CheckpointError, ConfigError, CorpusError
from interlingua.mining import build_index, embed
from interlingua.training.checkpoint import sha256_file
from interlingua.weights import atomic_write_text

log = logging.getLogger("interlingua.serve")
FORMAT = 1
_LANG_PREFIX = re.compile(r"^([a-z]{2,3}(?:_[A-Z][a-z]{3})?):(.+)$")


@dataclass(frozen=True)
class Source:
    path: Path
    lang: str | None = None


@dataclass(frozen=True)
class Hit:
    id: int
    sentence: str
    lang: str | None
    score: float


def parse_source(spec: str) -> Source:
    """``deu:path.txt`` -> (path.txt, deu); ``path.txt`` or ``path.tsv`` -> (path, None)."""
    match = _LANG_PREFIX.match(spec)
    path, lang = (Path(match[2]), match[1]) if match and not Path(spec).exists() else (Path(spec), None)
    path = path.expanduser()
    if not path.is_file():
        raise CorpusError(f"--index {spec}: no file {path}")
    if lang and ".tsv" in path.name:
        raise ConfigError(f"--index {spec}: a .tsv names each line's language; drop the '{lang}:' prefix")
    return Source(path, lang)


def read_source(src: Source) -> list[tuple[str | None, str]]:
    """(lang, sentence) rows of one source."""
    lines = read_lines(src.path)
    if ".tsv" not in src.path.name:
        return [(src.lang, line.strip()) for line in lines if line.strip()]
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        lang, tab, sentence = line.partition("\t")
        if not tab or not lang.strip() or not sentence.strip():
            raise CorpusError(f"{src.path}:{n}: expected lang<TAB>sentence, got {line[:60]!r}")
        rows.append((lang.strip(), sentence.strip()))
    return rows


def read_sources(sources: list[Source]) -> tuple[list[str], list[str | None]]:
    """Sentences and their languages over every source, first occurrence of each (lang, sentence) kept."""
    seen = dict.fromkeys(row for src in sources for row in read_source(src))
    if not seen:
        raise CorpusError(f"--index: no sentences in {', '.join(str(s.path) for s in sources)}")
    return [s for _, s in seen], [lang for lang, _ in seen]


def fingerprint(sources: list[Source]) -> list[dict]:
    """What decides whether a saved index is still current: each source's path, language, size and mtime."""
    out = []
    for src in sources:
        stat = src.path.stat()
        out.append({"path": str(src.path.resolve()), "lang": src.lang, "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns})
    return out


@dataclass
class SentenceIndex:
    """Unit vectors of ``sentences`` in an inner-product FAISS index (score = cosine)."""

    sentences: list[str]
    langs: list[str | None]
    index: faiss.Index
    model: dict
    sources: list[dict] = field(default_factory=list)
    _by_lang: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        ids: dict[str, list[int]] = {}
        for i, lang in enumerate(self.langs):
            if lang is not None:
                ids.setdefault(lang, []).append(i)
        self._by_lang = {lang: np.asarray(v, dtype=np.int64) for lang, v in ids.items()}

    def lang_counts(self) -> dict[str, int]:
        return dict(Counter(lang or "" for lang in self.langs))

    def search(self, query: np.ndarray, k: int, langs: list[str] | None = None) -> list[Hit]:
        """The ``k`` nearest sentences to the unit vector ``query`` (D,), only in ``langs`` when given."""
        params = None
        if langs:
            unknown = [lang for lang in langs if lang not in self._by_lang]
            if unknown:
                known = ", ".join(sorted(self._by_lang)) or "none (the index has no languages)"
                raise ConfigError(f"lang {', '.join(unknown)} is not in the index; it has {known}")
            ids = np.concatenate([self._by_lang[lang] for lang in langs])
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))
            k = min(k, len(ids))
        k = min(k, self.index.ntotal)
        scores, ids = self.index.search(np.ascontiguousarray(query[None], dtype=np.float32), k, params=params)
        return [Hit(int(i), self.sentences[i], self.langs[i], float(s))
                for s, i in zip(scores[0], ids[0]) if i >= 0]

    def save(self, path: Path) -> None:
        """FAISS file at ``path``, then the sidecar ``path.json`` naming its checksum (both renamed into place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        meta = {"format": FORMAT, "model": self.model, "sources": self.sources, "faiss_sha256": sha256_file(path),
                "sentences": self.sentences, "langs": self.langs}
        atomic_write_text(sidecar(path), json.dumps(meta, ensure_ascii=False))


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def load_index(path: Path) -> SentenceIndex:
    """A saved index; a missing, unreadable or inconsistent pair raises :class:`CheckpointError` naming it."""
    meta_path = sidecar(path)
    if not path.is_file() or not meta_path.is_file():
        raise CheckpointError(f"--index-file {path}: needs both {path} and {meta_path}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{meta_path}: not a readable index sidecar ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("faiss_sha256") != sha256_file(path):
        raise CheckpointError(f"{path}: does not match {meta_path} (other format or checksum): rebuild it with --index")
    index = faiss.read_index(str(path))
    if index.ntotal != len(meta["sentences"]) or len(meta["langs"]) != len(meta["sentences"]):
        raise CheckpointError(f"{path}: {index.ntotal} vectors but {len(meta['sentences'])} sentences in {meta_path}")
    return SentenceIndex(meta["sentences"], meta["langs"], index, meta["model"], meta.get("sources", []))


def build(encoder: SentenceEncoder, model: dict, sources: list[Source], batch_size: int = 64) -> SentenceIndex:
    """Embed every source sentence (grouped by language for models with language embeddings) into a flat index."""
    sentences, langs = read_sources(sources)
    if encoder.langs and None in langs:
        raise ConfigError(f"{encoder.name} has language embeddings: give every --index a language "
                          f"(LANG:PATH or a .tsv), one of {', '.join(encoder.langs)}")
    groups: dict[str | None, list[int]] = {}
    for i, lang in enumerate(langs):
        groups.setdefault(lang if encoder.langs else None, []).append(i)
    vectors = np.zeros((len(sentences), encoder.dim), dtype=np.float32)
    for lang, rows in groups.items():
        label = lang or "index"  # without language embeddings the code only labels the progress bar
        vectors[rows] = embed(encoder.bind(batch_size=batch_size), [sentences[i] for i in rows], label)
    log.info("indexed %d sentences (%s)", len(sentences), ", ".join(f"{k or '-'}: {v}" for k, v in
                                                                    Counter(langs).most_common(8)))
    return SentenceIndex(sentences, langs, build_index(vectors), model, fingerprint(sources))


def open_index(encoder: SentenceEncoder, model: dict, specs: list[str], index_file: str | None,
               batch_size: int = 64) -> SentenceIndex | None:
    """The index to serve: none, built from ``specs``, loaded from ``index_file``, or rebuilt when that is stale."""
    sources = [parse_source(s) for s in specs]
    path = Path(index_file).expanduser() if index_file else None
    if path is None:
        return build(encoder, model, sources, batch_size) if sources else None
    if not sources:
        saved = load_index(path)
        if saved.model != model:
            raise ConfigError(f"--index-file {path} was built with {saved.model}, not {model}: pass --index to "
                              "rebuild it")
        return saved
    try:
        saved = load_index(path) if path.exists() else None
    except CheckpointError as exc:
        log.warning("%s; rebuilding", exc)
        saved = None
    if saved is not None and saved.model == model and saved.sources == fingerprint(sources):
        log.info("loaded %s (%d sentences)", path, len(saved.sentences))
        return saved
    index = build(encoder, model, sources, batch_size)
    index.save(path)
    log.info("saved %s and %s", path, sidecar(path))
    return index
