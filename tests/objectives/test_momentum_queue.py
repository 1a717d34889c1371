"""The worked example of a stateful objective (tests/objectives/momentum_queue.py): hand values, state that
starts at the loaded weights, stays out of model.safetensors, resumes bit-exactly and matches under DDP."""
from __future__ import annotations

import math

import pytest
import torch

from interlingua.objectives.translation_ranking import ranking_loss_sum
from tests.objectives.stateful import tiny_recipe, assert_resume_is_bit_exact, ddp_difference
from tests.training.tiny_run import make_trainer



@pytest.fixture
def recipe(tmp_path) -> str:
    return tiny_recipe(tmp_path, "mq", "momentum_queue: {momentum: 0.5, queue_size: 12, scale: 5.0}")


def test_queue_loss_hand_value():
    """q = (1, 0); keys (1, 0), (0, 1); queue (−1, 0); s = 1, positive column 0:
    L = −log e¹ / (e¹ + e⁰ + e⁻¹) = log(1 + e⁻¹ + e⁻²) = 0.40761."""
    q, keys, queue = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[-1.0, 0.0]])
    loss, correct = ranking_loss_sum(q, keys, torch.tensor([0]), 0.0, 1.0, extra=queue)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)), abs=1e-6) and correct == 1


def test_twin_starts_at_the_loaded_weights_and_stays_out_of_the_model(tmp_path, recipe):
    trainer = make_trainer(tmp_path / "run", recipe=recipe)
    obj = trainer.objectives[0]
    for (name, p), t in zip(trainer.model.encoder.named_parameters(), obj.state.twin.parameters()):
        assert torch.equal(p, t) and not t.requires_grad, name
    assert not any(k.startswith("twin") or "queue" in k for k in trainer.model.state_dict())
    before = [t.clone() for t in obj.state.twin.parameters()]
    trainer.fit(stop_at=1)
    after = list(obj.state.twin.parameters())
    online = list(trainer.model.encoder.parameters())
    for b, a, o in zip(before, after, online):  # ξ = 0.5·ξ₀ + 0.5·θ₁ after one step
        torch.testing.assert_close(a, 0.5 * b + 0.5 * o, rtol=0, atol=1e-6)
    assert int(obj.state.queue.filled) == 8  # one global batch (make_trainer: 8 rows) of keys queued


def test_resume_restores_weights_and_state_bit_exactly(tmp_path, recipe):
    assert_resume_is_bit_exact(tmp_path, recipe)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, recipe):
    worst = ddp_difference(tmp_path, recipe)
    assert worst <= 1e-5, worst  # float summation order
