"""The embedded default corpus: (English, translation) pairs harvested from gettext catalogs.

Every Linux machine carries thousands of ``.mo`` files (``/usr/share/locale/*/LC_MESSAGES``) whose
msgid is English UI text and whose msgstr is its translation, so a parallel corpus for ~100 languages
is available without a download. UI strings carry things that are not language (accelerators,
placeholders, markup), so each side goes through :func:`clean_ui_string` before the pair is kept.

Order is deterministic: catalogs sorted by path, entries by msgid; the first copy of a pair wins.
A full harvest is cached as JSON in ``$INTERLINGUA_CACHE`` (default ``~/.cache/interlingua``) under
a hash of the catalogs' (path, size, mtime) list, the options and :data:`CACHE_VERSION`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from html import unescape
from pathlib import Path

from tqdm import tqdm

from interlingua.data.langcodes import to_iso3
from interlingua.errors import CorpusError

DEFAULT_DIRS = (Path("/usr/share/locale"),)
CACHE_VERSION = 1  # bump when cleaning or filtering changes, so old caches are not reused

RawEntry = tuple[str, str, list[str]]  # (msgctxt-free msgid, plural msgid or "", msgstr forms)

# --- cleaning ------------------------------------------------------------------------------------

_CJK_MNEMONIC = re.compile(r"\s*\(\s*[_&~][A-Za-z0-9]\s*\)")  # "ファイル(_F)": the key is repeated
_AMPERSAND = re.compile(r"&&|&(?![A-Za-z]+;|#\d+;|#[xX][0-9a-fA-F]+;)(?=\w)")
# Only real markup tags: "<FILE>" in usage text is a translated word ("<DATEI>"), not markup.
_MARKUP_TAGS = (
    "a|abbr|b|big|blockquote|body|br|center|code|div|em|font|h[1-6]|head|hr|html|i|img|kbd|li|markup|ol|p|pre"
    "|qt|s|small|span|strike|strong|sub|sup|table|td|th|tr|tt|u|ul"
)
_TAG = re.compile(rf"</?({_MARKUP_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#[xX][0-9a-fA-F]+);")
_TILDE = re.compile(r"~(?=[^\W_])")
# printf incl. positional (%1$d), Python (%(name)s), glibc %m, Qt %1/%L1 and inttypes <PRIu64>;
# no space flag, so "50% done" survives. %% is a literal percent.
_PRINTF = re.compile(
    r"%%|%(?:\([^()\s]*\)|\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|ll|[hlLqjzZtI])?"
    r"[diouxXeEfFgGaAcCsSpnm]|%L?\d+|%<PRI\w+>|%\{\w+\}"
)
_BRACE = re.compile(r"\{\{|\}\}|\$?\{[\w.\[\]]*(?:![rsa])?(?::[^{}]*)?\}")
_EMPTY_PAIR = re.compile(
    r"''|\"\"|`'|“\s*”|„\s*“|‘\s*’|‚\s*‘|«\s*»|»\s*«|「\s*」|『\s*』|《\s*》|〈\s*〉|<\s*>|\(\s*\)|\[\s*\]|（\s*）"
)
_TRAILING = re.compile(r"(?:\s*(?:\.{2,}|…|:|：|︰))+$")
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE = re.compile(r"\s+(?=[,.])")  # "Line %d, Column" -> "Line , Column" -> "Line, Column"
_BLOCK_TAGS = {"br", "p", "div", "li", "ul", "ol", "tr", "td"}


def _strip_underscore_mnemonic(text: str) -> str:
    """GTK marks the access key with one ``_`` (``_File``, ``Ö_ffnen``); identifiers such as
    ``LC_ALL`` or strings with several underscores are left alone."""
    if text.count("_") != 1:
        return text
    i = text.index("_")
    if i + 1 >= len(text) or not text[i + 1].isalnum():
        return text
    token = re.search(r"\S*_\S*", text).group(0).strip(".,;:!?…'\"()“”«»")  # type: ignore[union-attr]
    if re.fullmatch(r"[A-Z0-9_]+", token) or re.search(r"[-/.$%=@]", token):
        return text
    return text[:i] + text[i + 1 :]


def _tag(match: re.Match[str]) -> str:
    return " " if match.group(1).lower() in _BLOCK_TAGS else ""


def clean_ui_string(text: str) -> str:
    """UI text as plain language: no accelerators, placeholders, markup or trailing ``:``/``…``.

    >>> clean_ui_string("Save _As…")
    'Save As'
    >>> clean_ui_string("Could not open “%s”: %s")
    'Could not open'
    """
    text = _CJK_MNEMONIC.sub("", text)
    text = _AMPERSAND.sub(lambda m: "&" if m.group(0) == "&&" else "", text)
    text = _TAG.sub(_tag, text)
    text = _ENTITY.sub(lambda m: unescape(m.group(0)), text)
    text = _strip_underscore_mnemonic(text)
    text = _TILDE.sub("", text)
    text = _PRINTF.sub(lambda m: "%" if m.group(0) == "%%" else "", text)
    text = _BRACE.sub(lambda m: m.group(0)[0] if m.group(0) in ("{{", "}}") else "", text)
    for _ in range(2):  # "“(%s)”" empties in two rounds
        text = _EMPTY_PAIR.sub("", text)
    text = _SPACE_BEFORE.sub("", _SPACE.sub(" ", text)).strip()
    return _TRAILING.sub("", text).strip()


def _mostly_letters(text: str) -> bool:
    # Marks count as letters: Devanagari or Thai vowel signs are category M, not L.
    chars = [c for c in text if not c.isspace()]
    letters = sum(unicodedata.category(c)[0] in "LM" for c in chars)
    return letters * 2 >= len(chars)


def keep_pair(english: str, translation: str, min_chars: int) -> bool:
    """Filters applied after cleaning: empty, short, untranslated (equal up to case), symbol soup."""
    if len(english) < min_chars or len(translation) < min_chars:
        return False
    if english.casefold() == translation.casefold():
        return False
    return _mostly_letters(english) and _mostly_letters(translation)


# --- catalog parsing -----------------------------------------------------------------------------

_CHARSET = re.compile(rb"charset=([A-Za-z0-9_.:-]+)")
_LANGUAGE = re.compile(r"^Language:\s*(\S+)", re.MULTILINE)


def _charset(header: bytes) -> str:
    m = _CHARSET.search(header)
    name = m.group(1).decode("ascii") if m else "utf-8"
    return "utf-8" if name.upper() == "CHARSET" else name  # "CHARSET" is the .pot template placeholder


def _split_entry(msgid: str, msgstr: str) -> RawEntry:
    if "\x04" in msgid:  # "context\x04msgid": the context disambiguates, it is not text
        msgid = msgid.split("\x04", 1)[1]
    singular, _, plural = msgid.partition("\x00")
    return singular, plural, msgstr.split("\x00")


def parse_mo(path: Path) -> tuple[str, list[RawEntry]]:
    """(header text, entries) of a compiled catalog; entries that do not decode are skipped."""
    data = Path(path).read_bytes()
    if len(data) < 28:
        raise CorpusError(f"{path}: too short to be a .mo file")
    magic = struct.unpack("<I", data[:4])[0]
    order = {0x950412DE: "<", 0xDE120495: ">"}.get(magic)
    if order is None:
        raise CorpusError(f"{path}: not a .mo file (magic {magic:#x})")
    _, count, orig_at, trans_at = struct.unpack(order + "4I", data[4:20])
    try:
        origs = [struct.unpack_from(order + "2I", data, orig_at + 8 * i) for i in range(count)]
        trans = [struct.unpack_from(order + "2I", data, trans_at + 8 * i) for i in range(count)]
        raw = [(data[o : o + n], data[t : t + m]) for (n, o), (m, t) in zip(origs, trans)]
    except struct.error as exc:
        raise CorpusError(f"{path}: truncated .mo file ({exc})") from exc
    header = next((s for k, s in raw if k == b""), b"")
    charset = _charset(header)
    entries = []
    for key, value in raw:
        if key == b"":
            continue
        try:
            entries.append(_split_entry(key.decode(charset), value.decode(charset)))
        except (UnicodeDecodeError, LookupError):
            continue
    return header.decode(charset, errors="replace"), entries


_PO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_PO_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_PO_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"\s*$')


def _po_unescape(s: str) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] == "x":
            return chr(int(e[1:], 16))
        if e[0].isdigit():
            return chr(int(e, 8))
        return _PO_ESCAPES.get(e, e)

    return _PO_ESCAPE.sub(one, s)


def _po_records(text: str, path: Path) -> Iterator[dict[tuple[str, int], str]]:
    """Raw records of a .po file: {(keyword, plural index): text}, plus ("fuzzy", 0) when flagged."""
    rec: dict[tuple[str, int], str] | None = None
    field: tuple[str, int] | None = None
    fuzzy = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#~"):
            continue  # obsolete entries are not part of the catalog
        if line.startswith("#"):
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
            continue
        m = _PO_KEYWORD.match(line)
        if m:
            kw = m.group(1).split("[")[0]
            if kw == "msgctxt" or (kw == "msgid" and (rec is None or ("msgid", 0) in rec)):
                if rec is not None and ("msgid", 0) in rec:
                    yield rec
                rec = {("fuzzy", 0): "1"} if fuzzy else {}
                fuzzy = False
            if rec is None:
                raise CorpusError(f"{path}: line {lineno}: {kw} before any msgid")
            field = (kw, int(m.group(2) or 0))
            rec[field] = _po_unescape(m.group(3))
        elif len(line) >= 2 and line[0] == line[-1] == '"' and rec is not None and field is not None:
            rec[field] += _po_unescape(line[1:-1])
        else:
            raise CorpusError(f"{path}: line {lineno} is not valid .po syntax: {line[:60]!r}")
    if rec is not None and ("msgid", 0) in rec:
        yield rec


def parse_po(path: Path) -> tuple[str, list[RawEntry]]:
    """(header text, entries) of a source catalog; fuzzy entries are skipped as msgfmt does."""
    data = Path(path).read_bytes()
    charset = _charset(data[:4096])
    try:
        text = data.decode(charset)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CorpusError(f"{path}: cannot decode as {charset}: {exc}") from exc
    header, entries = "", []
    for rec in _po_records(text.lstrip("\ufeff"), path):
        forms = [v for (kw, _), v in sorted(rec.items()) if kw == "msgstr"]
        if rec[("msgid", 0)] == "" and ("msgctxt", 0) not in rec:
            header = forms[0] if forms else ""
        elif ("fuzzy", 0) not in rec:
            entries.append((rec[("msgid", 0)], rec.get(("msgid_plural", 0), ""), forms))
    return header, entries


# --- harvesting ----------------------------------------------------------------------------------


def catalog_files(dirs: Iterable[Path]) -> list[Path]:
    """Every ``.mo`` and ``.po`` file under ``dirs``, sorted by path; a missing folder is an error."""
    files: set[Path] = set()
    for d in dirs:
        d = Path(d).expanduser()
        if not d.is_dir():
            raise CorpusError(f"gettext catalog folder not found: {d}")
        files.update(p for p in d.rglob("*") if p.suffix in (".mo", ".po") and p.is_file())
    return sorted(files)


def _path_locale(path: Path) -> str | None:
    """Locale named by the standard ``<locale>/LC_MESSAGES/<domain>.mo`` layout, else None."""
    return path.parent.parent.name if path.parent.name == "LC_MESSAGES" else None


def _parse(path: Path) -> tuple[str, list[RawEntry]]:
    return parse_mo(path) if path.suffix == ".mo" else parse_po(path)


def catalog_lang(path: Path, header: str | None = None) -> str | None:
    """ISO 639-3 of a catalog: the ``LC_MESSAGES`` layout, else the header's ``Language:``, else a
    ``de.po``-style file name. The file is read only when the layout does not decide."""
    code = _path_locale(path)
    if code is not None:
        return to_iso3(code)
    if header is None:
        header = _parse(path)[0]
    for code in (*_LANGUAGE.findall(header)[:1], path.stem.split(".")[-1]):
        if (iso := to_iso3(code)) is not None:
            return iso
    return None


def catalog_pairs(path: Path, min_chars: int = 3) -> list[tuple[str, str]]:
    """Cleaned (english, translation) pairs of one catalog, sorted by msgid.

    A plural entry gives (singular, msgstr[0]) and, when a second form exists, (plural, msgstr[1]).
    """
    pairs: list[tuple[str, str]] = []
    for singular, plural, forms in sorted(_parse(path)[1], key=lambda e: (e[0], e[1])):
        candidates = [(singular, forms[0] if forms else "")]
        if plural and len(forms) > 1:
            candidates.append((plural, forms[1]))
        for msgid, msgstr in candidates:
            if not msgstr:
                continue  # untranslated
            english, translation = clean_ui_string(msgid), clean_ui_string(msgstr)
            if keep_pair(english, translation, min_chars):
                pairs.append((english, translation))
    return pairs


def catalogs_by_lang(dirs: Iterable[Path], wanted: set[str] | None = None) -> dict[str, list[Path]]:
    """ISO 639-3 -> its catalog files in path order; English and unmapped locales are left out."""
    groups: dict[str, list[Path]] = {}
    for path in catalog_files(dirs):
        iso = catalog_lang(path)
        if iso is None or iso == "eng" or (wanted is not None and iso not in wanted):
            continue
        groups.setdefault(iso, []).append(path)
    return groups


def _cache_dir() -> Path:
    from interlingua.data.paths import cache_root

    return cache_root()


def gettext_cache_path(lang: str, files: list[Path], min_chars: int) -> Path:
    """Cache file of one language's pairs: a hash of its catalogs' (path, size, mtime) and the options.

    One file per language, so harvests for different language lists share their work.
    """
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = json.dumps([CACHE_VERSION, min_chars, lang, stats])
    return _cache_dir() / f"gettext-{lang}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _write_atomic(path: Path, pairs: list[tuple[str, str]]) -> None:
    # Write-then-rename so a crash or a concurrent run never leaves a half-written cache behind.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(pairs, f, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path) -> list[tuple[str, str]] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return [(a, b) for a, b in json.load(f)]
    except (OSError, ValueError, TypeError):
        return None  # absent or damaged: harvest again


def _harvest_lang(files: list[Path], min_chars: int, bar: tqdm) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    for path in files:
        for pair in catalog_pairs(path, min_chars):
            if pair not in seen:  # first occurrence wins: pt before pt_BR, coreutils before gnulib
                seen.add(pair)
                out.append(pair)
        bar.update(1)
    return out


def harvest_gettext(
    dirs: list[Path] | None = None,
    langs: Iterable[str] | None = None,
    min_chars: int = 3,
    *,
    cache: bool = True,
) -> dict[str, list[tuple[str, str]]]:
    """ISO 639-3 -> [(english, translation)] from the gettext catalogs under ``dirs``.

    Args:
        dirs: folders searched recursively for ``.mo``/``.po`` (default ``/usr/share/locale``).
        langs: keep only these languages (any code form :func:`to_iso3` understands).
        min_chars: shortest cleaned text kept, on either side.
        cache: read and write the per-language JSON cache (see :func:`gettext_cache_path`).

    Regional variants merge (``pt`` and ``pt_BR`` -> ``por``); English and unmapped locales are
    skipped; exact duplicate pairs keep their first occurrence; languages left empty are omitted.
    """
    wanted = {iso for code in langs if (iso := to_iso3(code))} if langs is not None else None
    groups = catalogs_by_lang(dirs or list(DEFAULT_DIRS), wanted)
    result: dict[str, list[tuple[str, str]]] = {}
    todo: dict[str, Path | None] = {}
    for lang, files in sorted(groups.items()):
        path = gettext_cache_path(lang, files, min_chars) if cache else None
        cached = _read_cache(path) if path is not None else None
        if cached is None:
            todo[lang] = path
        else:
            result[lang] = cached
    total = sum(len(groups[lang]) for lang in todo)
    with tqdm(total=total, desc="gettext catalogs", unit="file", leave=False, disable=None if total else True) as bar:
        for lang, path in todo.items():
            result[lang] = _harvest_lang(groups[lang], min_chars, bar)
            if path is not None:
                _write_atomic(path, result[lang])
    return {lang: result[lang] for lang in sorted(result) if result[lang]}


def gettext_languages(dirs: list[Path] | None = None) -> set[str]:
    """ISO 639-3 codes with at least one catalog under ``dirs`` (English excluded)."""
    return set(catalogs_by_lang(dirs or list(DEFAULT_DIRS)))
