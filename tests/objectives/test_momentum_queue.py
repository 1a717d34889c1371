"""The worked example of a stateful objective (tests/objectives/momentum_queue.py): hand values, state that
starts at the loaded weights, stays out of model.safetensors, resumes bit-exactly and matches under DDP."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from interlingua.objectives.translation_ranking import ranking_loss_sum
from tests.objectives.momentum_queue import MomentumState
from tests.training.tiny_run import make_trainer

REPO = Path(__file__).resolve().parents[2]
RECIPE = """name: mq
model: {d_model: 16, n_layers: 2, n_heads: 2, d_ff: 32, lang_embeddings: true, dropout: 0.1}
data: {langs: [deu, fra], alpha: 0.7}
train: {steps: 6, batch_size: 4, warmup_steps: 2, log_every: 1, lr: 1.0e-2}
objectives:
  momentum_queue: {momentum: 0.5, queue_size: 12, scale: 5.0}
"""


@pytest.fixture
def recipe(tmp_path) -> str:
    path = tmp_path / "mq.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return str(path)


def test_queue_loss_hand_value():
    """q = (1, 0); keys (1, 0), (0, 1); queue (−1, 0); s = 1, positive column 0:
    L = −log e¹ / (e¹ + e⁰ + e⁻¹) = log(1 + e⁻¹ + e⁻²) = 0.40761."""
    q, keys, queue = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[-1.0, 0.0]])
    loss, correct = ranking_loss_sum(q, keys, torch.tensor([0]), 0.0, 1.0, extra=queue)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)), abs=1e-6) and correct == 1


def test_queue_keeps_the_newest_keys():
    state = MomentumState(torch.nn.Linear(2, 2), size=3, dim=1)
    state.push(torch.tensor([[1.0], [2.0]]))
    assert state.queued().flatten().tolist() == [1.0, 2.0]
    state.push(torch.tensor([[3.0], [4.0]]))
    assert state.queued().flatten().tolist() == [3.0, 4.0, 1.0] and int(state.filled) == 3


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
    assert int(obj.state.filled) == 8  # one global batch (make_trainer: 8 rows) of keys queued


def test_resume_restores_weights_and_state_bit_exactly(tmp_path, recipe):
    straight = make_trainer(tmp_path / "a", recipe=recipe)
    straight.fit()
    first = make_trainer(tmp_path / "b", recipe=recipe)
    first.fit(stop_at=3)
    torch.manual_seed(99)
    second = make_trainer(tmp_path / "b", recipe=recipe)
    assert second.resume() and second.step == 3
    second.fit()
    for got, want in ((second.model.state_dict(), straight.model.state_dict()),
                      (second.objective_states(), straight.objective_states())):
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), k


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, recipe):
    one = make_trainer(tmp_path / "single", recipe=recipe)
    one.fit()
    out = tmp_path / "ddp" / "weights.safetensors"
    out.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "training" / "tiny_run.py"), str(out), recipe, "model.dropout=0.0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = make_trainer(tmp_path / "single0", "model.dropout=0.0", recipe=recipe)
    ref.fit()
    for got, want in ((load_file(str(out)), ref.model.state_dict()),
                      (load_file(str(out.with_suffix(".state.safetensors"))), ref.objective_states())):
        assert got.keys() == want.keys()
        worst = max((got[k] - want[k]).abs().max().item() for k in want)
        assert worst <= 1e-5, worst  # float summation order; twins built before the DDP broadcast differed by 0.08
