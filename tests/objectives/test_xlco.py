"""XLCO (InfoXLM): hand values of the MoCo loss, the queue and twin as state, bit-exact resume, DDP equality."""
from __future__ import annotations

import math

import pytest
import torch

from interlingua.errors import ConfigError
from interlingua.objectives.xlco import XLCOConfig, xlco_loss_sum
from tests.objectives.stateful import tiny_recipe, assert_resume_is_bit_exact, ddp_difference
from tests.training.tiny_run import make_trainer

Q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
K = torch.tensor([[1.0, 0.0], [0.6, 0.8]])


@pytest.fixture
def recipe(tmp_path) -> str:
    return tiny_recipe(tmp_path, "xlco", "xlco: {momentum: 0.5, queue_size: 12, temperature: 0.5, layer: 1, pooling: mean}")


def test_hand_value_own_key_against_the_queue_only():
    """τ = 0.5 (scale 2), queue n = (0, 1). Row 0: q·k = 1, q·n = 0: ln(1 + e^{-2}). Row 1: q·k = 0.8, q·n = 1:
    −ln e^{1.6} / (e^{1.6} + e^{2}) = ln(1 + e^{0.4}), and the queued key wins. The other row's key (q₀·k₁ = 0.6)
    is no candidate: without a queue the loss is exactly 0."""
    loss, correct = xlco_loss_sum(Q, K, torch.tensor([[0.0, 1.0]]), 0.5)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2)) + math.log1p(math.exp(0.4)), abs=1e-6)
    assert correct.item() == 1
    empty, _ = xlco_loss_sum(Q, K, torch.zeros(0, 2), 0.5)
    assert empty.item() == 0.0


def test_rows_are_independent_given_the_queue():
    """Invariance: permuting the batch permutes nothing else (each row sees its own key and the queue)."""
    torch.manual_seed(0)
    q, k, queue = torch.randn(5, 3), torch.randn(5, 3), torch.randn(4, 3)
    whole, _ = xlco_loss_sum(q, k, queue, 0.25)
    alone = sum(xlco_loss_sum(q[i:i + 1], k[i:i + 1], queue, 0.25)[0] for i in range(5))
    perm = torch.randperm(5)
    torch.testing.assert_close(whole, alone)
    torch.testing.assert_close(xlco_loss_sum(q[perm], k[perm], queue, 0.25)[0], whole)


def test_config_checks():
    with pytest.raises(ConfigError, match="momentum"):
        XLCOConfig(momentum=1.0)
    with pytest.raises(ConfigError, match="pooling"):
        XLCOConfig(pooling="max")


def test_twin_and_queue_are_state_and_the_projection_is_trained(tmp_path, recipe):
    trainer = make_trainer(tmp_path / "run", recipe=recipe)
    obj = trainer.objectives[0]
    proj = trainer.model.head("xlco_proj")
    assert torch.equal(obj.state.twin_proj.weight, proj.weight) and not obj.state.twin_proj.weight.requires_grad
    assert "heads.xlco_proj.weight" in trainer.model.state_dict()
    assert not any("twin" in k or "queue" in k for k in trainer.model.state_dict())
    before = proj.weight.detach().clone()
    trainer.fit(stop_at=1)
    assert not torch.equal(proj.weight, before)
    torch.testing.assert_close(obj.state.twin_proj.weight, 0.5 * before + 0.5 * proj.weight.detach(), rtol=0, atol=1e-6)
    assert int(obj.state.queue.filled) == 12  # 8 rows x 2 directions of keys, capped at the queue's 12


def test_resume_restores_weights_twin_and_queue_bit_exactly(tmp_path, recipe):
    assert_resume_is_bit_exact(tmp_path, recipe)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_a_gathered_queue(tmp_path, recipe):
    worst = ddp_difference(tmp_path, recipe)
    assert worst <= 1e-5, worst  # float summation order


def test_mixup_rows_join_two_pairs_each_side_in_its_own_order(tmp_path, recipe):
    """With ``mixup`` a row holds two drawn pairs: its source the two sources, its target their two translations
    (each side's order random), so the row's positive is still its own target."""
    from interlingua.objectives.translation_ranking import pair_batch

    trainer = make_trainer(tmp_path / "run", "objectives.xlco.mixup=true", recipe=recipe)
    obj, pool = trainer.objectives[0], trainer.pool
    batch = obj.make_batch(pool, 4, torch.Generator().manual_seed(0))
    drawn = pool.sample_pairs(8, torch.Generator().manual_seed(0))  # the same draw, unjoined
    plain = pair_batch(drawn, pool.pivot, obj.vocab, 64)
    sentences = lambda side, i: side.input_ids[i][side.attn_mask[i]][1:-1].tolist()  # noqa: E731
    orders = set()
    for b in range(4):
        for side, alone in ((batch.src, plain.src), (batch.tgt, plain.tgt)):
            got, a, c = sentences(side, b), sentences(alone, 2 * b), sentences(alone, 2 * b + 1)
            assert got in (a + [obj.vocab.sep_id] + c, c + [obj.vocab.sep_id] + a)
            orders.add(got[:len(a)] == a)
    assert orders == {True, False}
    trainer.fit(stop_at=2)
