from __future__ import annotations

import gettext
import json
import os
import struct
from pathlib import Path

import pytest

from interlingua.data import gettext_corpus as gc
from interlingua.data.gettext_corpus import clean_ui_string, harvest_gettext, keep_pair, parse_mo, parse_po

HEADER = b"Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


def write_mo(path: Path, entries: dict[bytes, bytes], byteorder: str = "<") -> Path:
    """A .mo file as msgfmt lays it out: header, two (length, offset) tables, then the strings."""
    keys = sorted(entries)
    n = len(keys)
    ids_at = 28 + 16 * n
    ids = b"".join(k + b"\0" for k in keys)
    strs_at = ids_at + len(ids)
    orig, trans, id_off, str_off = [], [], 0, 0
    for k in keys:
        orig.append(struct.pack(byteorder + "2I", len(k), ids_at + id_off))
        trans.append(struct.pack(byteorder + "2I", len(entries[k]), strs_at + str_off))
        id_off += len(k) + 1
        str_off += len(entries[k]) + 1
    head = struct.pack(byteorder + "7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + b"".join(orig) + b"".join(trans) + ids + b"".join(entries[k] + b"\0" for k in keys))
    return path


MO_ENTRIES = {
    b"": HEADER,
    b"_Open File": "Datei _öffnen".encode(),
    b"menu\x04_Quit": b"_Beenden",
    b"%d file deleted\x00%d files deleted": "%d Datei gelöscht\x00%d Dateien gelöscht".encode(),
    b"Untranslated": b"",
    b"OK": b"OK",
}


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("_File", "File"),
        ("Ö_ffnen", "Öffnen"),
        ("&Open", "Open"),
        ("~Open", "Open"),
        ("Tom && Jerry", "Tom & Jerry"),
        ("ファイル(_F)", "ファイル"),
        ("Save _As…", "Save As"),
        ("Preferences...", "Preferences"),
        ("Name:", "Name"),
        ("Could not open “%s”: %s", "Could not open"),
        ("%1$d of %2$d files in %(folder)s", "of files in"),
        ("Copied {0} items to {dest}", "Copied items to"),
        ("Use {{braces}} like this", "Use {braces} like this"),
        ("Line %d, Column %d", "Line, Column"),
        ("50% done, 100%% sure", "50% done, 100% sure"),
        ("<b>Warning</b>: disk &amp; memory&#33;", "Warning: disk & memory!"),
        ("Usage: tool <FILE>", "Usage: tool <FILE>"),
        ("Set LC_ALL first", "Set LC_ALL first"),
        ("  many\n\tspaces  ", "many spaces"),
        ("~/.config is read", "~/.config is read"),
    ],
)
def test_clean_ui_string(raw: str, clean: str) -> None:
    assert clean_ui_string(raw) == clean


def test_keep_pair_filters() -> None:
    assert keep_pair("Open file", "Datei öffnen", 3)
    assert not keep_pair("OK", "Oké", 3)  # too short on the English side
    assert not keep_pair("Cancel", "cancel", 3)  # untranslated up to case
    assert not keep_pair("--- 100 ---", "--- 100 ---x", 3)  # mostly symbols
    assert keep_pair("Hindi text", "हिन्दी पाठ", 3)  # vowel signs count as letters


def test_parse_mo_plural_context_and_stdlib_agreement(tmp_path: Path) -> None:
    path = write_mo(tmp_path / "de.mo", MO_ENTRIES)
    stdlib = gettext.GNUTranslations(open(path, "rb"))  # our writer produces what the stdlib reads
    assert stdlib.pgettext("menu", "_Quit") == "_Beenden"
    header, entries = parse_mo(path)
    assert "charset=UTF-8" in header
    assert sorted(entries) == sorted([
        ("_Open File", "", ["Datei _öffnen"]),
        ("_Quit", "", ["_Beenden"]),  # context stripped
        ("%d file deleted", "%d files deleted", ["%d Datei gelöscht", "%d Dateien gelöscht"]),
        ("Untranslated", "", [""]),
        ("OK", "", ["OK"]),
    ])
    assert parse_mo(write_mo(tmp_path / "be.mo", MO_ENTRIES, byteorder=">"))[1] == entries


def test_catalog_pairs_from_mo(tmp_path: Path) -> None:
    pairs = gc.catalog_pairs(write_mo(tmp_path / "de/LC_MESSAGES/app.mo", MO_ENTRIES))
    # Sorted by msgid; plural gives both forms; untranslated and identical entries are gone.
    assert pairs == [
        ("file deleted", "Datei gelöscht"),
        ("files deleted", "Dateien gelöscht"),
        ("Open File", "Datei öffnen"),
        ("Quit", "Beenden"),
    ]


PO_TEXT = r'''# German translation
msgid ""
msgstr ""
"Language: de\n"
"Content-Type: text/plain; charset=UTF-8\n"

#: src/main.c:10
msgid ""
"Open the "
"\"recent\" list"
msgstr "Die \"Zuletzt\"-Liste "
"öffnen"

#, fuzzy
msgid "Save all"
msgstr "Alle speichern (unsicher)"

msgctxt "verb"
msgid "Print"
msgstr "Drucken"

msgid "One window"
msgid_plural "Many windows"
msgstr[0] "Ein Fenster"
msgstr[1] "Viele Fenster"

#~ msgid "Obsolete"
#~ msgstr "Veraltet"
'''


def test_parse_po(tmp_path: Path) -> None:
    path = tmp_path / "app.po"
    path.write_text(PO_TEXT, encoding="utf-8")
    header, entries = parse_po(path)
    assert "Language: de" in header
    assert entries == [
        ('Open the "recent" list', "", ['Die "Zuletzt"-Liste öffnen']),
        ("Print", "", ["Drucken"]),
        ("One window", "Many windows", ["Ein Fenster", "Viele Fenster"]),
    ]
    assert gc.catalog_lang(path) == "deu"  # no LC_MESSAGES layout: the header decides


def test_harvest_merges_variants_dedupes_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINGUA_CACHE", str(tmp_path / "cache"))
    locale = tmp_path / "locale"
    write_mo(locale / "de/LC_MESSAGES/app.mo", MO_ENTRIES)
    write_mo(locale / "de_AT/LC_MESSAGES/app.mo", {b"": HEADER, b"_Quit": b"_Beenden", b"Print": b"Drucken"})
    write_mo(locale / "en_GB/LC_MESSAGES/app.mo", {b"": HEADER, b"Color": b"Colour"})
    write_mo(locale / "C/LC_MESSAGES/app.mo", {b"": HEADER, b"Color": b"Farbe"})
    (locale / "extra").mkdir()
    (locale / "extra/fr.po").write_text('msgid "Print"\nmsgstr "Imprimer"\n', encoding="utf-8")
    result = harvest_gettext([locale])
    assert list(result) == ["deu", "fra"]  # English and "C" skipped
    assert result["deu"] == [
        ("file deleted", "Datei gelöscht"), ("files deleted", "Dateien gelöscht"),
        ("Open File", "Datei öffnen"), ("Quit", "Beenden"),  # de first; de_AT's duplicate dropped
        ("Print", "Drucken"),
    ]
    assert result["fra"] == [("Print", "Imprimer")]
    assert harvest_gettext([locale], langs=["pt_BR"]) == {}
    cached = sorted((tmp_path / "cache").glob("gettext-deu-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text(encoding="utf-8"))[-1] == ["Print", "Drucken"]

    def no_parsing(*_: object) -> None:
        raise AssertionError("a cached language was parsed again")

    monkeypatch.setattr(gc, "catalog_pairs", no_parsing)
    assert harvest_gettext([locale], langs=["deu"]) == {"deu": result["deu"]}
    monkeypatch.undo()
    monkeypatch.setenv("INTERLINGUA_CACHE", str(tmp_path / "cache"))
    changed = locale / "de_AT/LC_MESSAGES/app.mo"
    write_mo(changed, {b"": HEADER, b"Close window": b"Fenster schliessen"})
    os.utime(changed, ns=(1, 1))
    assert harvest_gettext([locale], langs=["deu"])["deu"][-1] == ("Close window", "Fenster schliessen")


def test_harvest_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(gc.CorpusError, match="gettext catalog folder not found"):
        harvest_gettext([tmp_path / "nope"], cache=False)


def test_one_real_catalog() -> None:
    candidates = sorted(Path("/usr/share/locale/de/LC_MESSAGES").glob("*.mo"), key=lambda p: p.stat().st_size)
    sized = [p for p in candidates if 5_000 < p.stat().st_size < 200_000]
    if not sized:
        pytest.skip("no German gettext catalog of moderate size in /usr/share/locale on this machine")
    path = sized[len(sized) // 2]
    pairs = gc.catalog_pairs(path)
    assert gc.catalog_lang(path) == "deu"
    assert pairs, f"no pairs from {path}"
    assert not any("%s" in en or "%d" in de for en, de in pairs)
