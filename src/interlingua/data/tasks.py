"""Supervised task data for multi-task sentence encoders (mUSE): QA pairs from XQuAD, inference pairs from SICK.

Read through the ``xquad`` and ``sick`` loaders of :mod:`interlingua.data.loaders`:
``xquad``: (question, answer sentence) per XQuAD language among the run's languages, from the training
articles only (``data[:36]``; the last 12 are the corpora README's evaluation split);
``sick``: (sentence A, sentence B, label) from SICK train, English, labels as :data:`NLI_LABELS`.
"""
from __future__ import annotations

import gzip
import json
import re

from interlingua.data.paths import corpus_file
from interlingua.data.readers import read_tsv

XQUAD_TRAIN_ARTICLES = 36
NLI_LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")
SICK_COLUMNS = ("pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment")
# A sentence ends at . ! ? (then a space) or at a full stop that needs none (Chinese, Japanese, Devanagari).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？।])\s*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """[begin, end) character spans of the sentences of ``text`` (a naive splitter)."""
    spans, begin = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > begin:
            spans.append((begin, m.start()))
        begin = m.end()
    return spans + [(begin, len(text))] if begin < len(text) else spans


def answer_sentence(context: str, start: int, end: int) -> str:
    """The sentence(s) of ``context`` covering the answer span [start, end), whitespace stripped."""
    spans = sentence_spans(context)
    first = next((i for i, (_, b) in enumerate(spans) if start < b), len(spans) - 1)
    last = next((i for i, (_, b) in enumerate(spans) if end <= b), len(spans) - 1)
    return context[spans[first][0] : spans[max(first, last)][1]].strip()


def xquad_qa(lang: str, articles: slice = slice(0, XQUAD_TRAIN_ARTICLES)) -> list[tuple[str, str]]:
    """(question, sentence holding its answer) pairs of one XQuAD language."""
    with gzip.open(corpus_file(f"xquad/{lang}.json.gz"), "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = []
    for article in data[articles]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                answer = qa["answers"][0]
                start = answer["answer_start"]
                out.append((qa["question"], answer_sentence(para["context"], start, start + len(answer["text"]))))
    return out


def sick_nli(split: str = "train") -> list[tuple[str, str, int]]:
    """(sentence A, sentence B, label index into NLI_LABELS) rows of a SICK split."""
    rows = read_tsv(corpus_file(f"sick/{split}.tsv.gz"), SICK_COLUMNS)
    return [(a, b, NLI_LABELS.index(label)) for _, a, b, _, label in rows]
