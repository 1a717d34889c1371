"""DAE: XLM's noise (shuffle within k, dropout, blanking) checked property by property, and a smoke run."""
from __future__ import annotations

import math

import torch

from interlingua.objectives.dae import add_noise
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer

MASK = -1


def test_shuffle_moves_every_token_fewer_than_k_places():
    ids = list(range(40))
    for seed in range(50):
        out = add_noise(ids, torch.Generator().manual_seed(seed), MASK, shuffle_k=3, p_drop=0, p_blank=0)
        assert sorted(out) == ids
        assert max(abs(pos - tok) for pos, tok in enumerate(out)) < 3
    moved = add_noise(ids, torch.Generator().manual_seed(0), MASK, shuffle_k=3, p_drop=0, p_blank=0)
    assert moved != ids


def test_k_one_or_less_keeps_the_order():
    assert add_noise(list(range(10)), torch.Generator().manual_seed(0), MASK, 1, 0, 0) == list(range(10))


def test_dropout_and_blank_rates():
    """Over 20k tokens: ~10 % dropped, then ~10 % of the rest blanked; the kept tokens keep their order."""
    ids = list(range(20000))
    out = add_noise(ids, torch.Generator().manual_seed(0), MASK, shuffle_k=0, p_drop=0.1, p_blank=0.1)
    assert abs(len(out) / 20000 - 0.9) < 0.01
    assert abs(out.count(MASK) / len(out) - 0.1) < 0.01
    kept = [t for t in out if t != MASK]
    assert kept == sorted(kept)


def test_dropout_keeps_at_least_one_token():
    for seed in range(20):
        assert len(add_noise([5], torch.Generator().manual_seed(seed), MASK, 0, 0.99, 0)) == 1


def test_smoke_run_loss_falls(tmp_path):
    recipe = tiny_recipe(tmp_path, "dae", "dae: {halves: true}")
    rows = make_trainer(tmp_path / "run", "train.steps=12", recipe=recipe).fit()
    assert all(math.isfinite(r["train/dae/loss"]) for r in rows)
    assert rows[-1]["train/dae/loss"] < rows[0]["train/dae/loss"]
