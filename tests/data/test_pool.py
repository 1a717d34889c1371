"""The tokenised pool: compact stores that hand out the same rows, and the same draws, as lists would."""
from __future__ import annotations

import pytest
import torch

from interlingua.data.pool import Pool, TokenStore, build_pool

PAIRS = {
    "deu": [("the cat runs", "die katze"), ("the big dog", "der hund"), ("a red house", "das rot haus"),
            ("the big dog", "der hund"), ("the cat", "  "), ("  ", "die katze"), ("a house", "die katze")],
    "fra": [("the cat", "le chat"), ("the dog runs", "le chien"), ("a house", "la maison")],
}


def test_token_store_round_trip_len_and_bytes():
    """Rows (empty ones too) come back as lists; storage is 4 bytes a token + 8 per offset (rows + 1)."""
    rows = [[5, 6, 7], [], [250_001], [1, 2]]
    store = TokenStore.from_lists(rows)
    assert len(store) == 4 and list(store) == rows
    assert store[2] == [250_001] and store[-1] == [1, 2] and store[1:3] == rows[1:3]
    assert all(type(t) is int for t in store[0])
    with pytest.raises(IndexError):
        store[4]
    assert store.nbytes == 4 * 6 + 8 * 5
    store.append([9, 9])
    assert list(store) == rows + [[9, 9]]


def test_build_pool_rows_are_the_encoded_sentences(vocab):
    pool = build_pool(PAIRS, vocab, pivot="eng", alpha=1.0)
    enc = lambda s: vocab.encode([s])[0]  # noqa: E731
    pivots = sorted({p for ps in PAIRS.values() for p, _ in ps} - {"  "})
    assert list(pool.mono["eng"]) == [enc(p) for p in pivots]
    # the language side: distinct, non-empty, sorted by ids
    assert list(pool.mono["deu"]) == [list(x) for x in sorted({tuple(enc(x)) for _, x in PAIRS["deu"] if x.strip()})]
    # pairs with an empty side are dropped; the rest keep their order (duplicates too)
    kept = [(p, x) for p, x in PAIRS["deu"] if p.strip() and x.strip()]
    assert len(pool.pairs["deu"]) == len(kept) == 5
    assert list(pool.pairs["deu"]) == [(enc(p), enc(x)) for p, x in kept]
    assert pool.pairs["fra"][-1] == (enc("a house"), enc("la maison"))
    # a pivot sentence is stored once, for mono and for every language's pairs
    assert pool.pairs["deu"].pivot is pool.mono["eng"] is pool.pairs["fra"].pivot
    assert pool.pairs["deu"].lang is pool.mono["deu"]


def test_draws_equal_those_from_plain_lists(vocab):
    """Batches depend only on the rows: the stores draw what the list-based pool drew for the same seed."""
    pool = build_pool(PAIRS, vocab, pivot="eng", alpha=0.5)
    lists = Pool(pivot="eng", alpha=0.5, mono={k: list(v) for k, v in pool.mono.items()},
                 pairs={k: list(v) for k, v in pool.pairs.items()})
    for draw in ("sample_mono", "sample_pairs"):
        got = getattr(pool, draw)(40, torch.Generator().manual_seed(7))
        assert got == getattr(lists, draw)(40, torch.Generator().manual_seed(7))


def test_docs_and_tasks(vocab):
    docs = {"deu": [["die katze", "der hund", " "], ["das haus"], ["le chat", "la maison"]]}
    tasks = {"nli": {"eng": [("the cat", "a dog", 1), ("the cat", " ", 0), ("a house", "the dog", 2)]}}
    pool = build_pool(PAIRS, vocab, pivot="eng", alpha=1.0, docs=docs, tasks=tasks)
    assert [list(d) for d in pool.docs["deu"]] == [vocab.encode(docs["deu"][0]), vocab.encode(docs["deu"][2])]
    items = pool.tasks["nli"]["eng"]  # the item with an empty side is dropped; labels stay ints
    assert list(items) == [(vocab.encode(["the cat"])[0], vocab.encode(["a dog"])[0], 1),
                           (vocab.encode(["a house"])[0], vocab.encode(["the dog"])[0], 2)]


def test_stored_bytes_per_token_with_offsets_and_pair_rows():
    """Sentences of 20 tokens, each in 3 pairs: 4 + 8/20 bytes a token, plus 3 x 8 bytes of pair rows / 20."""
    from interlingua.data.pool import PairStore
    import numpy as np

    n = 1000
    store = TokenStore.from_lists([list(range(i, i + 20)) for i in range(n)])
    rows = np.repeat(np.arange(n, dtype=np.int32), 3)
    pairs = PairStore(store, store, rows, rows)
    per_token = (store.nbytes + pairs.pivot_rows.nbytes + pairs.lang_rows.nbytes) / (20 * n)
    assert per_token == pytest.approx(4 + 8 * (n + 1) / (20 * n) + 24 / 20)
    assert per_token <= 16
