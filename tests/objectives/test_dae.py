"""DAE: XLM's noise on whole words (shuffle within k, dropout, blanking) checked property by property and on
a hand-made three-word case; the halves' disjointness; a smoke run."""
from __future__ import annotations

import math
import shlex
from pathlib import Path

import torch

from interlingua.cli import build_parser
from interlingua.config import load_config
from interlingua.data.pool import Pool
from interlingua.data.seq2seq_batches import draw_mono
from interlingua.objectives.dae import add_noise
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer

MASK = -1
EVERY = [True] * 20000  # every token a word
PAIRED = [i % 2 == 0 for i in range(40000)]  # even ids start a word, odd ids continue it: words (2j, 2j + 1)


def _noise(ids, seed, starts=EVERY, k=0.0, p_drop=0.0, p_blank=0.0):
    return add_noise(ids, torch.Generator().manual_seed(seed), MASK, starts, k, p_drop, p_blank)


def test_shuffle_moves_every_word_fewer_than_k_places():
    ids = list(range(40))
    for seed in range(50):
        out = _noise(ids, seed, k=3)
        assert sorted(out) == ids
        assert max(abs(pos - tok) for pos, tok in enumerate(out)) < 3
    assert _noise(ids, 0, k=3) != ids


def test_shuffle_keeps_the_pieces_of_a_word_together():
    """Words (0 1) (2 3) … (38 39): in every output piece 2j + 1 directly follows 2j, and word j lands at word
    position p with |p - j| < 3 (a token-level shuffle splits a word within a few seeds)."""
    ids = list(range(40))
    for seed in range(50):
        out = _noise(ids, seed, PAIRED, k=3)
        heads = out[0::2]
        assert out[1::2] == [h + 1 for h in heads] and all(h % 2 == 0 for h in heads)
        assert max(abs(pos - h // 2) for pos, h in enumerate(heads)) < 3


def test_k_one_or_less_keeps_the_order():
    assert _noise(list(range(10)), 0, k=1) == list(range(10))


def test_three_words_by_hand():
    """x = 10 11 | 12 | 13 (10 starts a two-piece word). Dropout 0.99 keeps exactly one whole word: (10 11),
    (12) or (13), never a lone 11; blanking 0.999 masks every piece of every word (4 masks, not 3);
    with neither, the shuffle can only permute the three words, 11 still right after 10."""
    starts = [True] * 20
    starts[11] = False
    x = [10, 11, 12, 13]
    kept = {tuple(_noise(x, seed, starts, p_drop=0.99)) for seed in range(40)}
    assert kept == {(10, 11), (12,), (13,)}
    assert _noise(x, 0, starts, p_blank=0.999) == [MASK] * 4
    for seed in range(30):
        out = _noise(x, seed, starts, k=3)
        assert out[out.index(10) + 1] == 11 and sorted(out) == x


def test_dropout_and_blank_rates_are_per_word():
    """20k two-piece words: ~10 % dropped, then ~10 % of the rest blanked, all by whole words; the kept words
    keep their order."""
    ids = list(range(40000))
    out = add_noise(ids, torch.Generator().manual_seed(0), MASK, PAIRED, 0, 0.1, 0.1)
    pairs = list(zip(out[0::2], out[1::2]))
    assert len(out) % 2 == 0 and abs(len(pairs) / 20000 - 0.9) < 0.01
    blanked = [p for p in pairs if MASK in p]
    assert all(p == (MASK, MASK) for p in blanked) and abs(len(blanked) / len(pairs) - 0.1) < 0.01
    kept = [a for a, b in pairs if a != MASK]
    assert all(b == a + 1 for a, b in pairs if a != MASK) and kept == sorted(kept)


def test_dropout_keeps_at_least_one_word():
    for seed in range(20):
        assert _noise([6, 7], seed, PAIRED, p_drop=0.99) == [6, 7]


def test_halves_never_draw_a_sentence_whose_translation_is_drawable():
    """Pivot texts P1…, deu texts D1…, fra texts F1…; first halves (pairs 0-3) give the drawable pivots
    {P1, P2, P3, P4} ∪ fra's {P1, P5}. deu's second half: (P1, D5) has its English in the first half (a
    duplicate caption), D2 is also paired with P2 there, (P5, D6)'s English is fra's first half: all three are
    excluded; only D7 and D8 stay. fra's second half: (P3, F4) goes (P3 is in deu's first half), F3 stays.
    A draw that ignores duplicates returns D5, D2 or D6 here."""
    P = {i: [100 + i] for i in range(1, 10)}
    D = {i: [200 + i] for i in range(1, 10)}
    F = {i: [300 + i] for i in range(1, 10)}
    deu = [(P[1], D[1]), (P[2], D[2]), (P[3], D[3]), (P[4], D[4]),
           (P[1], D[5]), (P[6], D[2]), (P[5], D[6]), (P[7], D[7]), (P[8], D[8])]
    fra = [(P[1], F[1]), (P[5], F[2]), (P[9], F[3]), (P[3], F[4])]
    pool = Pool("eng", 0.7, pairs={"deu": deu, "fra": fra})
    drawn = draw_mono(pool, 2000, torch.Generator().manual_seed(0), halves=True)
    pivots = {tuple(ids) for lang, ids in drawn if lang == "eng"}
    assert pivots == {tuple(P[i]) for i in (1, 2, 3, 4, 5)}
    translations: dict[tuple, set] = {}
    for lang, rows in pool.pairs.items():
        for p, x in rows:
            translations.setdefault((lang, tuple(x)), set()).add(tuple(p))
    others = {(lang, tuple(ids)) for lang, ids in drawn if lang != "eng"}
    assert all(not translations[o] & pivots for o in others)
    assert {ids for lang, ids in others if lang == "deu"} == {tuple(D[7]), tuple(D[8])}
    assert {ids for lang, ids in others if lang == "fra"} == {tuple(F[3])}  # (P3, F4): P3 is deu's


def test_documented_dae_alone_baseline_runs_no_back_translation():
    """The DAE-only command of docs/generation.md and of the unmt recipe's comment parses to the dae objective
    alone, with halves (``objectives.bt.weight=0`` would keep bt translating every step)."""
    root = Path(__file__).resolve().parents[2]
    for doc in (root / "docs" / "generation.md", root / "recipes" / "unmt.yaml"):
        lines = doc.read_text(encoding="utf-8").splitlines()
        line = next(ln for ln in lines if "runs/unmt-dae" in ln and "train" in ln)
        a = build_parser().parse_args(shlex.split(line.lstrip("# "))[1:])
        cfg = load_config(a.recipe, a.overrides)
        assert list(cfg.objectives) == ["dae"] and cfg.objectives["dae"].halves, doc


def test_smoke_run_loss_falls(tmp_path):
    recipe = tiny_recipe(tmp_path, "dae", "dae: {halves: true}")
    rows = make_trainer(tmp_path / "run", "train.steps=12", recipe=recipe).fit()
    assert all(math.isfinite(r["train/dae/loss"]) for r in rows)
    assert rows[-1]["train/dae/loss"] < rows[0]["train/dae/loss"]
