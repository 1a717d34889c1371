"""CLMLM (Unicoder): alternating documents by hand (sides, chapter boundary, budget), the verses loader on the
shared Bible, and a smoke run."""
from __future__ import annotations

import torch

from interlingua.config import load_config
from interlingua.data.loaders import bible_verses
from interlingua.objectives.clmlm import alternating_document
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer

# (pivot ids, language ids, chapter): chapter 0 has three verses, chapter 1 one.
VERSES = [([1, 1], [2, 2], 0), ([3], [4, 4, 4], 0), ([5, 5], [6], 0), ([7], [8], 1)]


def test_sides_alternate_within_one_chapter():
    """From verse 0, language first: 2 2 | 3 | 6, then chapter 1 starts: stop. Pivot first: 1 1 | 4 4 4 | 5 5.
    Languages follow the sides (10 = the language, 20 = the pivot)."""
    doc = alternating_document(VERSES, 0, 0, 64, (10, 20))
    assert [(s.ids, s.lang) for s in doc] == [([2, 2], 10), ([3], 20), ([6], 10)]
    doc = alternating_document(VERSES, 0, 1, 64, (10, 20))
    assert [s.ids for s in doc] == [[1, 1], [4, 4, 4], [5, 5]]
    assert [s.ids for s in alternating_document(VERSES, 3, 0, 64, (10, 20))] == [[8]]


def test_segment_ids_are_the_sides_and_a_prefix_stays_on_the_first_verse():
    """Segments 0 1 0 (language, pivot, language) rather than 0 1 2; strip drops a leading 1 after verse 0."""
    doc = alternating_document(VERSES, 0, 0, 64, (10, 20), strip=lambda ids: ids[1:] if ids[:1] == [3] else ids)
    assert [s.segment for s in doc] == [0, 1, 0] and [s.ids for s in doc] == [[2, 2], [], [6]]


def test_budget_counts_the_specials():
    """<s> + (2 + </s>) + (1 + </s>) = 6 tokens: a budget of 6 keeps two sentences, 5 keeps one; the first
    sentence is kept even when it alone is over the budget (the packer cuts it)."""
    assert len(alternating_document(VERSES, 0, 0, 6, (10, 20))) == 2
    assert len(alternating_document(VERSES, 0, 0, 5, (10, 20))) == 1
    assert len(alternating_document(VERSES, 1, 0, 2, (10, 20))) == 1


def test_verses_loader_reads_consecutive_pairs_from_the_bible():
    cfg = load_config("ablate-cpu", ["data.langs=deu,khm"])  # khm has no Bible: left out
    verses = bible_verses(cfg)
    assert list(verses) == ["deu"]
    chapters = [c for _, _, c in verses["deu"]]
    assert chapters == sorted(chapters) and len(set(chapters)) > 200 and all(p and x for p, x, _ in verses["deu"][:50])


def test_smoke_run(tmp_path):
    recipe = tiny_recipe(tmp_path, "clmlm", "clmlm: {max_tokens: 24}")
    trainer = make_trainer(tmp_path / "run", "train.steps=8", recipe=recipe)
    pool, vocab = trainer.pool, trainer.objectives[0].vocab
    # tiny_run has no Bible: its pairs, three to a "chapter", stand in for verses
    pool.tasks["verses"] = {lang: [(p, x, i // 3) for i, (p, x) in enumerate(pool.pairs[lang])] for lang in pool.pairs}
    batch = trainer.objectives[0].make_batch(pool, 4, torch.Generator().manual_seed(0))
    assert batch.input_ids.shape[1] <= 24 and (batch.segment_ids.max(1).values >= 1).any()  # some span 2+ verses
    rows = trainer.fit()
    assert rows[-1]["train/clmlm/loss"] < rows[0]["train/clmlm/loss"]
    assert vocab.mask_id in batch.input_ids
