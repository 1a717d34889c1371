"""Checks every stateful (and in-batch) objective's tests share: bit-exact resume and 2-process DDP equality, for the weights
and the objective's state (tiny_run's deterministic setup, under a recipe that names the objective)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.training.tiny_run import make_trainer

REPO = Path(__file__).resolve().parents[2]


TINY = """name: {name}
model: {{d_model: 16, n_layers: 2, n_heads: 2, d_ff: 32, lang_embeddings: true, dropout: 0.1}}
data: {{langs: [deu, fra], alpha: 0.7}}
train: {{steps: 6, batch_size: 4, warmup_steps: 2, log_every: 1, lr: 1.0e-2}}
objectives:
  {objectives}
"""


def tiny_recipe(tmp_path: Path, name: str, objectives: str) -> str:
    """The path of a recipe for tiny_run's model and data with the given ``objectives:`` entries (YAML)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(TINY.format(name=name, objectives=objectives), encoding="utf-8")
    return str(path)


def assert_resume_is_bit_exact(tmp_path: Path, recipe: str) -> None:
    """6 steps straight == 3 steps, a fresh process state (new RNG), then 3 resumed steps; bit for bit."""
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


def ddp_difference(tmp_path: Path, recipe: str) -> float:
    """Largest |difference| between 2 processes under torchrun and 1 process, over weights and state."""
    out = tmp_path / "ddp" / "weights.safetensors"
    out.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "training" / "tiny_run.py"), str(out), recipe, "model.dropout=0.0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = make_trainer(tmp_path / "single", "model.dropout=0.0", recipe=recipe)
    ref.fit()
    worst = 0.0
    state = out.with_suffix(".state.safetensors")  # written only for objectives with state
    for got, want in ((load_file(str(out)), ref.model.state_dict()),
                      (load_file(str(state)) if state.exists() else {}, ref.objective_states())):
        assert got.keys() == want.keys()
        worst = max([worst, *((got[k] - want[k]).abs().max().item() for k in want)])
    return worst
