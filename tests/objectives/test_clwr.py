"""CLWR (Unicoder): the docstring's 3-dimensional worked example, padding invariance, and a smoke run."""
from __future__ import annotations

import math

import torch

from interlingua.objectives.clwr import recover
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer

E = math.e


def test_worked_example_from_the_docstring():
    """D = 1, w = (0, 0, 1): A_ij = x_i·y_j. x = (1, 2), y = (1, −1, 0):
    x₁^t = (e − e^{−1}) / (e + e^{−1} + 1) = 0.5752, x₂^t = (e² − e^{−2}) / (e² + e^{−2} + 1) = 0.8509.
    With w = (1, 0, 0) the score depends on x_i only: uniform weights, x^t = mean(y) = 0."""
    x, y = torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[1.0], [-1.0], [0.0]]])
    real = torch.ones(1, 3, dtype=torch.bool)
    got = recover(x, y, real, torch.tensor([0.0, 0.0, 1.0]))[0, :, 0]
    want = [(E - 1 / E) / (E + 1 / E + 1), (E**2 - E**-2) / (E**2 + E**-2 + 1)]
    torch.testing.assert_close(got, torch.tensor(want))
    torch.testing.assert_close(recover(x, y, real, torch.tensor([1.0, 0.0, 0.0])), torch.zeros(1, 2, 1))


def test_padding_of_y_is_ignored():
    """Invariance: appending padded (masked) tokens to y, whatever their vectors, changes nothing."""
    torch.manual_seed(0)
    x, y, w = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(12)
    padded = torch.cat([y, 100 * torch.randn(2, 2, 4)], 1)
    real = torch.tensor([[True] * 5 + [False] * 2] * 2)
    torch.testing.assert_close(recover(x, padded, real, w), recover(x, y, torch.ones(2, 5, dtype=torch.bool), w))


def test_smoke_run_trains_the_scorer(tmp_path):
    trainer = make_trainer(tmp_path / "run", "train.steps=10", recipe=tiny_recipe(tmp_path, "clwr", "clwr: {}"))
    obj, model = trainer.objectives[0], trainer.model
    batch = obj.make_batch(trainer.pool, 8, torch.Generator().manual_seed(0))
    assert batch.num_items == int((batch.src.word_ids >= 0).sum()) and batch.slice(0, 4).num_items > 0
    before = model.head("clwr_score").weight.detach().clone()
    rows = trainer.fit()
    assert not torch.equal(before, model.head("clwr_score").weight)
    assert rows[-1]["train/clwr/loss"] < rows[0]["train/clwr/loss"]
