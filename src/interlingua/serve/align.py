"""``POST /align``: two sentences -> word links and the word-level similarity matrix.

The evaluation suite's aligner (:func:`interlingua.evaluation.align.alignment_examples`, SimAlign-style: each
word tokenized alone, layer K's subword vectors, argmax / itermax / softmax links, a word pair linked when any
of their subwords are) on one pair with no gold links; the matrix holds, per word pair, the best cosine over
their subwords. A sentence given as text is split into words and punctuation marks (``\\w+`` runs and single
other characters); a list of words is taken as it is.
"""
from __future__ import annotations

import re

from interlingua.encoding import SentenceEncoder
from interlingua.errors import ConfigError
from interlingua.evaluation.align import alignment_examples, num_layers, parse_layers
from interlingua.evaluation.word_alignment import GoldPair

_WORD = re.compile(r"\w+|[^\w\s]")


def split_words(text: str | list[str]) -> list[str]:
    """Words of a sentence: a list is kept (blank entries dropped), a string split into words and punctuation."""
    if isinstance(text, list):
        return [w.strip() for w in text if w.strip()]
    return _WORD.findall(text)


def align_pair(encoder: SentenceEncoder, src: str | list[str], tgt: str | list[str], *, layer: int | None = None,
               method: str = "argmax", langs: tuple[str | None, str | None] = (None, None),
               max_words: int = 128) -> dict:
    """``{src, tgt, similarity (m × n), links [[i, j]], layer, num_layers, method}`` for one sentence pair."""
    words = split_words(src), split_words(tgt)
    for side, w in zip(("src", "tgt"), words):
        if not w:
            raise ConfigError(f"{side} has no words")
        if len(w) > max_words:
            raise ConfigError(f"{side} has {len(w)} words; the limit is {max_words} (--align-max-words)")
    n_layers = num_layers(encoder)
    (k,) = parse_layers(layer, n_layers)
    pair = GoldPair(words[0], words[1], frozenset(), frozenset())
    found = alignment_examples(encoder, [pair], langs, k, method, n=1)
    if not found:
        raise ConfigError("the model's tokenizer gives no subwords for one side: nothing to align")
    ex = found[0]
    return {"src": ex["src"], "tgt": ex["tgt"], "similarity": ex["similarity"], "links": ex["links"],
            "layer": k, "num_layers": n_layers, "method": method}
