"""CLWA (AMBER): the attention-agreement loss by hand, its symmetry, and a smoke run on concatenated pairs."""
from __future__ import annotations

import pytest
import torch

from interlingua.errors import ConfigError
from interlingua.objectives.clwa import clwa_loss_sum
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer


# One row: <s> x0 x1 </s> y0 y1 </s> (positions 0..6); x = {1, 2}, y = {4, 5}.
X = torch.tensor([[False, True, True, False, False, False, False]])
Y = torch.tensor([[False, False, False, False, True, True, False]])


def probs(rows: dict[int, dict[int, float]]) -> torch.Tensor:
    """(1, 1, 7, 7) attention: the given rows, each topped up on position 0 (<s>) to sum to 1."""
    p = torch.zeros(7, 7)
    for i, cols in rows.items():
        for j, v in cols.items():
            p[i, j] = v
        p[i, 0] += 1 - p[i].sum()
    return p[None, None]


# Restricted to the other sentence and renormalised: A_xy = [[0.8, 0.2], [0.3, 0.7]], A_yx = [[0.6, 0.4], [0.1, 0.9]].
HEAD = probs({1: {4: 0.4, 5: 0.1, 2: 0.3}, 2: {4: 0.15, 5: 0.35}, 4: {1: 0.3, 2: 0.2, 6: 0.1}, 5: {1: 0.05, 2: 0.45}})


def test_hand_value_one_head():
    """tr(A_xy A_yx) = 0.8·0.6 + 0.2·0.1 + 0.3·0.4 + 0.7·0.9 = 1.25; L = 1 − 1.25 / min(2, 2) = 0.375. Mass on
    <s>, </s> and the sentence's own tokens is dropped before renormalising."""
    assert clwa_loss_sum(HEAD, X, Y).item() == pytest.approx(0.375, abs=1e-6)


def test_hand_value_two_heads_and_the_extremes():
    """A uniform head has trace 4 · 0.25 = 1, so two heads give L = 1 − ((1.25 + 1) / 2) / 2 = 0.4375; a one-to-one
    alignment that both directions agree on gives 0, one direction crossing the other's gives 1."""
    uniform = probs({1: {4: 0.5, 5: 0.5}, 2: {4: 0.5, 5: 0.5}, 4: {1: 0.5, 2: 0.5}, 5: {1: 0.5, 2: 0.5}})
    assert clwa_loss_sum(torch.cat([HEAD, uniform], 1), X, Y).item() == pytest.approx(0.4375, abs=1e-6)
    agree = probs({1: {4: 1.0}, 2: {5: 1.0}, 4: {1: 1.0}, 5: {2: 1.0}})
    assert clwa_loss_sum(agree, X, Y).item() == pytest.approx(0.0, abs=1e-6)
    cross = probs({1: {4: 1.0}, 2: {5: 1.0}, 4: {2: 1.0}, 5: {1: 1.0}})
    assert clwa_loss_sum(cross, X, Y).item() == pytest.approx(1.0, abs=1e-6)


def test_a_row_with_an_empty_side_is_no_item():
    """A second row whose y is empty adds nothing to the sum (the batch's item count leaves it out too)."""
    empty_y = torch.zeros(1, 7, dtype=torch.bool)
    both = clwa_loss_sum(torch.cat([HEAD, HEAD]), torch.cat([X, X]), torch.cat([Y, empty_y]))
    assert both.item() == pytest.approx(0.375, abs=1e-6)


def test_symmetric_in_the_two_sentences_and_summed_over_rows():
    """Invariance: swapping which sentence is x leaves L unchanged; a batch is the sum of its rows."""
    torch.manual_seed(0)
    p = torch.rand(3, 2, 7, 7).softmax(-1)
    xs, ys = X.expand(3, 7), Y.expand(3, 7)
    whole = clwa_loss_sum(p, xs, ys)
    torch.testing.assert_close(clwa_loss_sum(p, ys, xs), whole)
    torch.testing.assert_close(sum(clwa_loss_sum(p[i:i + 1], X, Y) for i in range(3)), whole)


def test_smoke_run_lowers_the_loss_and_checks_the_layer(tmp_path):
    recipe = tiny_recipe(tmp_path, "clwa", "clwa: {layer: 1}")
    trainer = make_trainer(tmp_path / "run", "train.steps=12", "model.dropout=0.0", recipe=recipe)
    obj = trainer.objectives[0]
    assert not obj.uses_every_parameter(trainer.model)  # block 1 of 2: block 2 gets no gradient
    last = make_trainer(tmp_path / "last", recipe=tiny_recipe(tmp_path, "last", "clwa: {layer: -1}"))
    assert not last.objectives[0].uses_every_parameter(last.model)  # even the last block's FFN gets none
    batch = obj.make_batch(trainer.pool, 4, torch.Generator().manual_seed(0))
    assert batch.num_items == 4 and set(batch.segment_ids[batch.word_ids >= 0].tolist()) == {0, 1}
    rows = trainer.fit()
    assert 0.0 <= rows[-1]["train/clwa/loss"] < rows[0]["train/clwa/loss"] <= 1.0
    with pytest.raises(ConfigError, match="clwa.layer"):
        make_trainer(tmp_path / "bad", recipe=tiny_recipe(tmp_path, "bad", "clwa: {layer: 3}")).fit()
