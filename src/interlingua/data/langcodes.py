"""Language codes: everything becomes ISO 639-3 at the edge of the package.

Inputs seen in the wild and what :func:`to_iso3` makes of them:

=====================  ==========  ==========================================================
input                  ISO 639-3   why
=====================  ==========  ==========================================================
``de``, ``de_CH``      ``deu``     ISO 639-1, region dropped
``pt``, ``pt_BR``      ``por``     regional variants of one language merge
``zh_CN``, ``zh_TW``   ``zho``     one code for written Chinese; the script is a file suffix
``zh_Hans``, ``zh-HK`` ``zho``     script / BCP 47 forms too
``sr@latin``           ``srp``     locale modifiers (``@latin``, ``@valencia``) dropped
``nb``, ``no``         ``nob``     catalogs labelled ``no`` are Bokmål in practice
``mo``                 ``ron``     deprecated Moldavian code
``iw``, ``in``, ``ji`` ``heb``...  deprecated ISO 639-1 codes (``ind``, ``yid``)
``ger``, ``fre``       ``deu``...  ISO 639-2/B bibliographic codes
``deu_Latn``           ``deu``     FLORES / UDHR ``_Script`` or ``_variant`` suffixes dropped
``cmn``                ``zho``     LASER Tatoeba / FLORES individual codes folded into the
``lvs`` ``pes``        ``lav``     macrolanguage code that the ISO 639-1 form maps to, so that
``zsm`` ``swh``        ``fas``...  gettext ``lv`` and Tatoeba ``lvs`` are the same language
``kzj``                ``dtp``     retired code (merged into ``dtp``)
other 3 letters        as given    assumed to be ISO 639-3 already
``en@quot``            ``eng``     (callers skip English themselves)
``C``, ``POSIX``       None        not a language
=====================  ==========  ==========================================================

Dataset codes go the other way: :func:`tatoeba_code` (``zho`` -> ``cmn``) and :func:`flores_code`
(``deu`` -> ``deu_Latn``, ``zho`` -> ``zho_Hans``) look at the files present under the data root.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from interlingua.data.paths import list_codes
from interlingua.errors import CorpusError

# ISO 639-1 -> ISO 639-3 (macrolanguage codes where 639-1 names a macrolanguage: ara, zho, fas, ...).
_ISO1 = dict(
    pair.split(":")
    for pair in """
aa:aar ab:abk ae:ave af:afr ak:aka am:amh an:arg ar:ara as:asm av:ava ay:aym az:aze ba:bak be:bel
bg:bul bi:bis bm:bam bn:ben bo:bod br:bre bs:bos ca:cat ce:che ch:cha co:cos cr:cre cs:ces cu:chu
cv:chv cy:cym da:dan de:deu dv:div dz:dzo ee:ewe el:ell en:eng eo:epo es:spa et:est eu:eus fa:fas
ff:ful fi:fin fj:fij fo:fao fr:fra fy:fry ga:gle gd:gla gl:glg gn:grn gu:guj gv:glv ha:hau he:heb
hi:hin ho:hmo hr:hrv ht:hat hu:hun hy:hye hz:her ia:ina id:ind ie:ile ig:ibo ii:iii ik:ipk io:ido
is:isl it:ita iu:iku ja:jpn jv:jav ka:kat kg:kon ki:kik kj:kua kk:kaz kl:kal km:khm kn:kan ko:kor
kr:kau ks:kas ku:kur kv:kom kw:cor ky:kir la:lat lb:ltz lg:lug li:lim ln:lin lo:lao lt:lit lu:lub
lv:lav mg:mlg mh:mah mi:mri mk:mkd ml:mal mn:mon mr:mar ms:msa mt:mlt my:mya na:nau nb:nob nd:nde
ne:nep ng:ndo nl:nld nn:nno no:nob nr:nbl nv:nav ny:nya oc:oci oj:oji om:orm or:ori os:oss pa:pan
pi:pli pl:pol ps:pus pt:por qu:que rm:roh rn:run ro:ron ru:rus rw:kin sa:san sc:srd sd:snd se:sme
sg:sag si:sin sk:slk sl:slv sm:smo sn:sna so:som sq:sqi sr:srp ss:ssw st:sot su:sun sv:swe sw:swa
ta:tam te:tel tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn to:ton tr:tur ts:tso tt:tat tw:twi ty:tah
ug:uig uk:ukr ur:urd uz:uzb ve:ven vi:vie vo:vol wa:wln wo:wol xh:xho yi:yid yo:yor za:zha zh:zho
zu:zul iw:heb in:ind ji:yid mo:ron
""".split()
)

# Three-letter codes that name the same language as another code in this package.
_ISO3_ALIASES = dict(
    pair.split(":")
    for pair in """
alb:sqi arm:hye baq:eus bur:mya chi:zho cze:ces dut:nld fre:fra geo:kat ger:deu gre:ell ice:isl
mac:mkd mao:mri may:msa per:fas rum:ron slo:slk tib:bod wel:cym
cmn:zho lvs:lav pes:fas zsm:msa swh:swa arb:ara azj:aze uzn:uzb khk:mon npi:nep ydd:yid als:sqi
gaz:orm plt:mlg pbt:pus ekk:est ory:ori ayr:aym quy:que nor:nob kzj:dtp
""".split()
)

# When a dataset has several files for one language, the variant used unless the caller names one.
_PREFERRED_VARIANT = {
    "zho": "Hans", "ara": "Arab", "deu": "1996", "ron": "2006", "ell": "monotonic", "por": "BR",
    "srp": "Cyrl", "aze": "Latn", "uzb": "Latn", "msa": "Latn", "bos": "Latn", "tuk": "Latn",
    "uig": "Arab", "vie": "Latn", "jav": "Latn", "san": "Deva", "ace": "Latn", "bjn": "Latn",
    "min": "Latn", "knc": "Latn", "taq": "Latn", "kas": "Arab",
}

_LOCALE_SPLIT = re.compile(r"[_@.\-]")


def to_iso3(code: str) -> str | None:
    """ISO 639-3 code for a locale, ISO 639-1/2 code or dataset code; None when it names no language."""
    head = _LOCALE_SPLIT.split(code.strip(), maxsplit=1)[0]
    if not head.isalpha() or not head.isascii():
        return None
    head = head.lower()
    if len(head) == 2:
        return _ISO1.get(head)
    if len(head) == 3:
        return _ISO3_ALIASES.get(head, head)
    return None


def check_lang(code: str, known: Iterable[str]) -> str:
    """``to_iso3(code)`` if it is in ``known``; else CorpusError listing close codes (difflib)."""
    known_set = set(known)
    iso = to_iso3(code)
    if iso is not None and iso in known_set:
        return iso
    probe = iso or code.lower()
    close = difflib.get_close_matches(probe, sorted(known_set), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known_set)[:40])}"
    shown = code if iso in (None, code) else f"{code} (= {iso})"
    raise CorpusError(f"unknown language {shown}{hint}")


def pick_variant(iso3: str, codes: Iterable[str]) -> str | None:
    """The dataset code among ``codes`` for language ``iso3``: an exact match first, then the
    preferred ``_Script``/``_variant`` suffix, then the alphabetically first candidate."""
    codes = sorted(codes)
    if iso3 in codes:
        return iso3
    candidates = [c for c in codes if to_iso3(c) == iso3]
    if not candidates:
        return None
    own = [c for c in candidates if c.split("_")[0] == iso3]  # deu_Latn over a folded gsw_Latn-like code
    pool = own or candidates
    want = _PREFERRED_VARIANT.get(iso3)
    for c in pool:
        if want is not None and c.endswith("_" + want):
            return c
    return pool[0]


def tatoeba_codes() -> list[str]:
    """LASER codes with a Tatoeba file pair under the data root."""
    return sorted(stem.split("-")[0] for stem in list_codes("tatoeba", ".eng.txt.gz"))


def tatoeba_code(iso3: str) -> str | None:
    """LASER Tatoeba code for an ISO 639-3 code (``zho`` -> ``cmn``); None when Tatoeba has no file."""
    iso = to_iso3(iso3)
    return pick_variant(iso, tatoeba_codes()) if iso else None


def flores_code(iso3: str) -> str | None:
    """FLORES-200 ``lang_Script`` code (``deu`` -> ``deu_Latn``); a full code present is returned as is."""
    codes = list_codes("flores200/devtest", ".txt.gz")
    if iso3 in codes:
        return iso3
    if "_" in iso3:  # a script was named and that file is absent: do not silently use another script
        return None
    iso = to_iso3(iso3)
    return pick_variant(iso, codes) if iso else None
