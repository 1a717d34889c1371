from __future__ import annotations

import math

import pytest
import torch

from interlingua.config import load_config
from interlingua.errors import ConfigError
from interlingua.training.stacking import active_layers, is_boundary
from tests.training.tiny_run import make_trainer

STAGES = [[0, 3], [100, 6], [250, 12]]


def test_schedule_hand_values():
    """L = 12, stages L/4 from 0, L/2 from 100, L from 250; boundaries only where a later stage starts."""
    assert [active_layers(s, STAGES) for s in (0, 99, 100, 249, 250, 999)] == [3, 3, 6, 6, 12, 12]
    assert [s for s in range(300) if is_boundary(s, STAGES)] == [100, 250]
    assert active_layers(5, []) is None and not is_boundary(0, [])


@pytest.mark.parametrize("stages, message", [
    ("[[1,1],[3,2]]", "train.stacking[0] must start at step 0"),
    ("[[0,1],[3,3]]", "train.stacking[1]: each stage doubles"),
    ("[[0,1],[9,2]]", "stay below train.steps=6"),
    ("[[0,1]]", "the last stage has 1 layers, model.n_layers=2"),
])
def test_bad_stages_name_the_key(stages, message):
    with pytest.raises(ConfigError) as err:
        load_config("xlm", ["model.n_layers=2", "train.steps=6", f"train.stacking={stages}"])
    assert message in str(err.value)


def _layer(trainer, i):
    return {k: v.detach().clone() for k, v in trainer.model.encoder.layers[i].state_dict().items()}


def test_stacking_copies_blocks_exactly_and_training_continues(tmp_path, monkeypatch):
    """2-layer encoder, stages [[0, 1], [3, 2]]: steps 0-2 train block 0 only (block 1 keeps its initial
    weights); at step 3 block 0 is copied onto block 1 bit for bit, with no optimizer state; then both train."""
    trainer = make_trainer(tmp_path, "train.stacking=[[0,1],[3,2]]", "train.lr=3e-3")
    enc = trainer.model.encoder
    init0, init1 = _layer(trainer, 0), _layer(trainer, 1)
    trainer.fit(stop_at=3)
    assert enc.active_layers == 1 and all(torch.equal(init1[k], v) for k, v in _layer(trainer, 1).items())
    assert any(not torch.equal(init0[k], v) for k, v in _layer(trainer, 0).items())
    assert all(p.grad is None for p in enc.layers[1].parameters())

    with monkeypatch.context() as m:  # take the boundary step without the update, to see the bare copy
        m.setattr(trainer.optimizer, "step", lambda: None)
        trainer.train_step()
    src, copy = _layer(trainer, 0), _layer(trainer, 1)
    assert enc.active_layers == 2 and all(torch.equal(src[k], copy[k]) for k in src)
    assert all(p not in trainer.optimizer.state for p in enc.layers[1].parameters())

    rows = trainer.fit()
    assert trainer.step == 6 and all(math.isfinite(r["train/mlm/loss"]) for r in rows)
    assert any(not torch.equal(copy[k], v) for k, v in _layer(trainer, 1).items())
    assert all(p in trainer.optimizer.state for p in enc.layers[1].parameters())


def test_stacking_grows_only_the_trained_encoder():
    """A frozen momentum twin inside the model must stay frozen when set_depth/grow (un)freeze blocks."""
    from interlingua.config import ModelConfig
    from interlingua.models.encoder import Encoder, momentum_copy
    from interlingua.training.stacking import grow, set_depth

    enc = Encoder(ModelConfig(vocab_size=20, d_model=8, n_layers=2, n_heads=2, d_ff=16, max_positions=16))
    model = torch.nn.ModuleDict({"online": enc, "twin": momentum_copy(enc)})
    set_depth(model, 1)
    grow(model, torch.optim.SGD([p for p in enc.parameters()], lr=0.1), 2)
    assert all(p.requires_grad for p in enc.layers.parameters())
    assert not any(p.requires_grad for p in model["twin"].parameters())
    assert model["twin"].active_layers is None
