"""Readers for the shared corpora and for user files; they return plain lists and dicts.

Text files are ``.txt`` or ``.txt.gz`` (also ``.tsv``/``.tsv.gz``), UTF-8, one segment per line.
Empty lines are kept because line *n* of one file translates line *n* of the other.

Invalid UTF-8 raises CorpusError naming the file and the 1-based line. With ``skip_invalid=True``
(for ``data.files``: the config key ``data.skip_invalid_utf8``) such lines (or pairs, for aligned files)
are dropped instead, and the count is kept on the result: :func:`read_lines` returns a :class:`Lines`
and :func:`read_line_aligned` a :class:`Pairs`, both ordinary lists with an extra ``skipped`` attribute.

A user's TSV of pairs (``data.files=[deu=pairs.tsv]``) starts with a header naming the language of each
column; the header, not the column order, says which side is the pivot. A name is anything
:func:`~interlingua.data.langcodes.to_iso3` maps to the configured code: ISO 639-3 (``deu``), optionally
with a script or region suffix (``deu_Latn``, ``de-CH``), ISO 639-1 (``de``) or 639-2/B (``ger``), in any
case. So for ``deu`` against the pivot ``eng`` both ``eng<TAB>deu`` and ``deu<TAB>eng`` work, and a
first row naming other languages, or sentences, is an error rather than a lost pair.
"""
from __future__ import annotations

import difflib
import gzip
import logging
from collections.abc import Sequence
from pathlib import Path

from interlingua.data.langcodes import check_lang, flores_code, pick_variant, tatoeba_code, tatoeba_codes, to_iso3
from interlingua.data.paths import corpus_file, list_codes
from interlingua.errors import CorpusError

log = logging.getLogger(__name__)

MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")


class Lines(list[str]):
    """A list of lines plus ``skipped``: how many invalid UTF-8 lines were dropped."""

    skipped: int = 0


class Pairs(list[tuple[str, str]]):
    """A list of aligned pairs plus ``skipped``: how many pairs had an invalid UTF-8 side."""

    skipped: int = 0


def _raw_lines(path: Path) -> list[bytes]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"file not found: {path}")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def _decode(raw: list[bytes], path: Path, skip_invalid: bool) -> list[str | None]:
    """Decoded lines; an invalid one is None when skipping, else a CorpusError naming its line."""
    out: list[str | None] = []
    for i, line in enumerate(raw, start=1):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if not skip_invalid:
                raise CorpusError(
                    f"{path}: line {i} is not valid UTF-8 ({exc.reason} at byte {exc.start}); re-encode the "
                    "file as UTF-8 (e.g. iconv -f latin1 -t utf-8), or for data.files set "
                    "data.skip_invalid_utf8=true to drop such lines"
                ) from None
            out.append(None)
    return out


def read_lines(path: Path | str, *, skip_invalid: bool = False) -> Lines:
    """Lines of a .txt or .txt.gz file (see the module docstring for invalid UTF-8)."""
    decoded = _decode(_raw_lines(Path(path)), Path(path), skip_invalid)
    result = Lines(line for line in decoded if line is not None)
    result.skipped = len(decoded) - len(result)
    return result


def read_line_aligned(src: Path | str, tgt: Path | str, *, skip_invalid: bool = False) -> Pairs:
    """(src line, tgt line) pairs of two line-aligned files; unequal lengths raise CorpusError."""
    src_raw, tgt_raw = _raw_lines(Path(src)), _raw_lines(Path(tgt))
    if len(src_raw) != len(tgt_raw):
        raise CorpusError(
            f"line-aligned files differ in length: {src} has {len(src_raw)} lines, {tgt} has {len(tgt_raw)}"
        )
    # Decoding both sides before pairing keeps alignment: a bad line drops its partner too.
    left = _decode(src_raw, Path(src), skip_invalid)
    right = _decode(tgt_raw, Path(tgt), skip_invalid)
    result = Pairs((a, b) for a, b in zip(left, right) if a is not None and b is not None)
    result.skipped = len(left) - len(result)
    return result


def _read_tsv_rows(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    return _split_tsv(read_lines(path), path)


def _split_tsv(lines: list[str], path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    if not lines:
        raise CorpusError(f"{path} is empty; a TSV file starts with a header row")
    header = lines[0].split("\t")
    rows: list[tuple[str, ...]] = []
    for i, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise CorpusError(f"{path}: line {i} has {len(fields)} fields, the header has {len(header)}")
        rows.append(tuple(fields))
    return header, rows


def read_tsv(path: Path | str, columns: Sequence[str]) -> list[tuple[str, ...]]:
    """Data rows of a TSV whose header must be exactly ``columns``."""
    header, rows = _read_tsv_rows(Path(path))
    if header != list(columns):
        raise CorpusError(f"{path}: header is {header}, expected {list(columns)}")
    return rows


def read_tatoeba(code: str) -> tuple[list[str], list[str]]:
    """(xx side, eng side) of a Tatoeba pair; ``code`` is ISO 639-3 or LASER's own code."""
    laser = tatoeba_code(code)
    if laser is None:
        check_lang(code, {to_iso3(c) or c for c in tatoeba_codes()})
    pairs = read_line_aligned(
        corpus_file(f"tatoeba/{laser}-eng.{laser}.txt.gz"), corpus_file(f"tatoeba/{laser}-eng.eng.txt.gz")
    )
    return [x for x, _ in pairs], [e for _, e in pairs]


def read_flores(code_script: str) -> list[str]:
    """FLORES-200 devtest sentences; ``deu_Latn`` or just ``deu``."""
    code = flores_code(code_script)
    if code is None:
        codes = list_codes("flores200/devtest", ".txt.gz")
        iso = to_iso3(code_script)
        same = [c for c in codes if iso is not None and to_iso3(c) == iso]  # deu_Cyrl -> deu_Latn first
        close = same + [c for c in difflib.get_close_matches(code_script, codes, n=5, cutoff=0.6) if c not in same]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CorpusError(f"no FLORES-200 file for {code_script}{hint}")
    return read_lines(corpus_file(f"flores200/devtest/{code}.txt.gz"))


def _resolve(folder: str, lang: str) -> str:
    """File code in ``folder`` (``*.tsv.gz``) for ``lang``; unknown languages raise with suggestions."""
    codes = list_codes(folder, ".tsv.gz")
    if lang in codes:
        return lang
    iso = check_lang(lang, {to_iso3(c) or c for c in codes})
    picked = pick_variant(iso, codes)
    assert picked is not None  # check_lang passed, so some file maps to iso
    return picked


def read_bible(lang: str) -> dict[str, str]:
    """verse_id (``JHN.3.16``) -> text, in canonical order."""
    path = corpus_file(f"bible/{_resolve('bible', lang)}.tsv.gz")
    return dict(read_tsv(path, ["verse_id", "text"]))  # type: ignore[arg-type]


def bible_pairs(a: str, b: str) -> list[tuple[str, str]]:
    """(a text, b text) for every verse id both translations have, in a's order."""
    left, right = read_bible(a), read_bible(b)
    return [(text, right[vid]) for vid, text in left.items() if vid in right]


def bible_documents(lang: str) -> list[list[str]]:
    """One document per chapter (``BOOK.CHAPTER``), verses in order."""
    chapters: dict[str, list[str]] = {}
    for vid, text in read_bible(lang).items():
        chapters.setdefault(vid.rsplit(".", 1)[0], []).append(text)
    return list(chapters.values())


def _udhr_rows(code: str) -> list[tuple[str, ...]]:
    return read_tsv(corpus_file(f"udhr/{_resolve('udhr', code)}.tsv.gz"), ["article.paragraph", "text"])


def read_udhr(code: str) -> list[str]:
    """UDHR paragraphs in document order (preamble first)."""
    return [text for _, text in _udhr_rows(code)]


def udhr_documents(code: str) -> list[list[str]]:
    """One document per article (article 0 is the preamble), paragraphs in order."""
    articles: dict[str, list[str]] = {}
    for key, text in _udhr_rows(code):
        articles.setdefault(key.split(".")[0], []).append(text)
    return list(articles.values())


def read_multi30k(lang: str, split: str) -> list[str]:
    """Multi30k captions of one split (train, val, test_2016_flickr); the four languages are aligned."""
    if split not in MULTI30K_SPLITS:
        raise CorpusError(f"unknown Multi30k split {split!r}; expected one of {', '.join(MULTI30K_SPLITS)}")
    langs = {c.split(".")[1] for c in list_codes("multi30k", ".txt.gz")}
    iso = check_lang(lang, langs)
    return read_lines(corpus_file(f"multi30k/{split}.{iso}.txt.gz"))


def read_user_pairs(spec: str, *, pivot: str, lang: str, skip_invalid: bool = False) -> list[tuple[str, str]]:
    """(pivot text, ``lang`` text) pairs from ``SRC.txt,TGT.txt`` (line-aligned, the first file is the pivot
    side) or a ``.tsv`` whose header names the two languages (see the module docstring).

    Pairs with an empty side are dropped; so are pairs with invalid UTF-8 when ``skip_invalid``.
    """
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) == 2:
        pairs: list[tuple[str, str]] = read_line_aligned(parts[0], parts[1], skip_invalid=skip_invalid)
        skipped = pairs.skipped
    elif len(parts) == 1 and (parts[0].endswith(".tsv") or parts[0].endswith(".tsv.gz")):
        lines = read_lines(parts[0], skip_invalid=skip_invalid)
        skipped = lines.skipped
        pivot_col = _pivot_column(lines[0].split("\t") if lines else [], parts[0], pivot, lang)
        _, rows = _split_tsv(lines, Path(parts[0]))
        pairs = [(row[pivot_col], row[1 - pivot_col]) for row in rows]
    else:
        raise CorpusError(f"cannot read pairs from {spec!r}: expected SRC.txt,TGT.txt or a .tsv file")
    if skipped:
        log.warning("%s: dropped %d pairs with invalid UTF-8 (data.skip_invalid_utf8)", spec, skipped)
    return [(a.strip(), b.strip()) for a, b in pairs if a.strip() and b.strip()]


def _pivot_column(header: list[str], path: str, pivot: str, lang: str) -> int:
    """Index (0 or 1) of the pivot column of a pairs TSV whose header names ``pivot`` and ``lang``."""
    names = [to_iso3(name) for name in header]
    if len(names) == 2 and sorted(names, key=str) == sorted([pivot, lang]):
        return names.index(pivot)
    got = "<TAB>".join(header)
    raise CorpusError(
        f"{path}:1: expected a header naming the languages, e.g. '{pivot}<TAB>{lang}' (ISO 639-3 codes, "
        f"in either order: data.files gives this file as {lang}, data.pivot is {pivot}); got '{got}'"
    )

