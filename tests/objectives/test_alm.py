"""ALM: consistent phrase pairs by hand, the share and non-overlap of the replacements, code-switching with
per-token languages, eflomal alignments and their cache, and a smoke run."""
from __future__ import annotations

import torch

from interlingua.data.alignments import eflomal_align, grow_diag, pool_alignments, words
from interlingua.objectives.alm import code_switch, consistent_phrases, pick_phrases
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer

LINKS = {(0, 1), (1, 0), (2, 2)}  # a crossing pair, then a straight link


def test_consistent_phrases_by_hand():
    """Major [1, 2] would need minor [0, 2], whose minor word 1 links to major 0 outside it: excluded. The five
    consistent pairs; with a 1-word cap only the three single links."""
    want = [((0, 0), (1, 1)), ((0, 1), (0, 1)), ((0, 2), (0, 2)), ((1, 1), (0, 0)), ((2, 2), (2, 2))]
    assert consistent_phrases(LINKS, 3, 5) == want
    assert consistent_phrases(LINKS, 3, 1) == [((0, 0), (1, 1)), ((1, 1), (0, 0)), ((2, 2), (2, 2))]
    assert consistent_phrases(set(), 3, 5) == []


def test_picked_phrases_fit_the_share_and_never_overlap():
    """Over many draws on a 10-word diagonal alignment: at most ⌊0.3·10⌋ = 3 major words replaced, no two kept
    phrases share a major or a minor word, and every kept pair is consistent."""
    links = {(i, i) for i in range(10)}
    phrases = consistent_phrases(links, 10, 5)
    sizes = set()
    for seed in range(50):
        kept = pick_phrases(phrases, 3, torch.Generator().manual_seed(seed))
        major = [i for (s1, s2), _ in kept for i in range(s1, s2 + 1)]
        minor = [j for _, (t1, t2) in kept for j in range(t1, t2 + 1)]
        assert len(major) <= 3 and len(set(major)) == len(major) and len(set(minor)) == len(minor)
        assert all(p in phrases for p in kept)
        sizes.add(len(major))
    assert sizes == {3}  # the budget is filled whenever phrases allow


def test_code_switch_keeps_each_tokens_language():
    """Major words [1] [2 3] [4] with [2 3] replaced by minor word [9]: ids 1 9 4, languages a b a."""
    ids, langs = code_switch([[1], [2, 3], [4]], [[9], [8]], [((1, 1), (0, 0))], (5, 6))
    assert ids == [1, 9, 4] and langs == [5, 6, 5]
    assert code_switch([[1], [2]], [[9]], [], (5, 6)) == ([1, 2], [5, 5])


def test_words_follow_the_vocabularys_word_starts():
    """Tokens 1 and 3 start words, 2 continues one; the first token always starts a word."""
    starts = [False, True, False, True]
    assert words([1, 2, 3, 2], starts) == [[1, 2], [3, 2]]
    assert words([2, 3], starts) == [[2], [3]]


def test_grow_diag_adds_neighbouring_union_links_only():
    """Intersection {(0,0), (1,1)}; (1,2) and (2,2) neighbour (1,1) and cover an unaligned word: added. (5,5)
    is in the union but next to nothing aligned: left out."""
    forward, backward = {(0, 0), (1, 1), (1, 2), (5, 5)}, {(0, 0), (1, 1), (2, 2)}
    assert grow_diag(forward, backward) == {(0, 0), (1, 1), (1, 2), (2, 2)}


def test_eflomal_links_stay_in_bounds_and_the_cache_is_reused(tmp_path):
    """eflomal on 40 pairs of a fixed vocabulary of 1-token words: links index real words; the second call reads
    the cache (same links, although eflomal itself is seeded at random)."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 8, (40,), generator=g).tolist()
    src = [[[int(t)] for t in torch.randint(10, 20, (n,), generator=g)] for n in lengths]
    tgt = [[[w[0] + 10] for w in reversed(s)] for s in src]
    links = eflomal_align(src, tgt)
    assert len(links) == 40
    assert all(0 <= i < len(s) and 0 <= j < len(t) for ls, s, t in zip(links, src, tgt) for i, j in ls)
    pairs = {"deu": [([w[0] for w in s], [w[0] for w in t]) for s, t in zip(src, tgt)]}
    starts = [True] * 40
    first = pool_alignments(pairs, starts, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert pool_alignments(pairs, starts, tmp_path) == first


def test_smoke_run_with_pure_and_switched_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERLINGUA_CACHE", str(tmp_path / "cache"))
    recipe = tiny_recipe(tmp_path, "alm", "alm: {share: 0.5, pure_x: 0.0, pure_y: 0.0, mask_prob: 0.4}")
    trainer = make_trainer(tmp_path / "run", "train.steps=8", recipe=recipe)
    obj, pool = trainer.objectives[0], trainer.pool
    assert len(obj._links(pool)["deu"]) == len(pool.pairs["deu"])  # eflomal ran once and was cached
    # eflomal is seeded at random; a diagonal alignment makes the batches below repeatable
    starts = obj.vocab.word_starts
    obj.links = {lang: [{(i, i) for i in range(min(len(words(p, starts)), len(words(x, starts))))}
                        for p, x in pool.pairs[lang]] for lang in pool.pairs}
    batch = obj.make_batch(pool, 8, torch.Generator().manual_seed(0))
    real = batch.word_ids >= 0
    mixed = [len(set(batch.lang_ids[b][real[b]].tolist())) > 1 for b in range(8)]
    assert any(mixed)  # some rows mix two languages token by token
    rows = trainer.fit()
    assert all(torch.isfinite(torch.tensor(r["train/alm/loss"])) for r in rows)
    assert rows[-1]["train/alm/loss"] < rows[0]["train/alm/loss"]
    assert list((tmp_path / "cache" / "alignments").glob("*.npz"))
