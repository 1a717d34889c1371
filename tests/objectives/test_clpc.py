"""CLPC (Unicoder): hard-negative mining by hand, negatives never the translation, mining without dropout, a
smoke run."""
from __future__ import annotations

import pytest
import torch

from interlingua.errors import ConfigError
from interlingua.objectives.clpc import CLPCConfig, hardest
from tests.objectives.stateful import assert_resume_is_bit_exact, tiny_recipe
from tests.training.tiny_run import make_trainer


def test_hardest_candidate_by_hand():
    """x₀ = (1, 0): cosines with c = (1, 0), (0.8, 0.6), (0, 1) are 1, 0.8, 0; c₀ is its translation, so c₁.
    x₁ = (0, 1): 0, 0.6, 1 and nothing excluded: c₂."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    same = torch.tensor([[True, False, False], [False, False, False]])
    assert hardest(x, c, same).tolist() == [1, 2]


def test_config_checks():
    with pytest.raises(ConfigError, match="negatives"):
        CLPCConfig(negatives="easy")
    with pytest.raises(ConfigError, match="refresh_every"):
        CLPCConfig(refresh_every=-1)


def _encoder_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_miner_snapshot_is_refreshed_every_n_steps(tmp_path):
    """refresh_every 2: after step 2 the miner is an exact copy of the encoder; step 3 moves the encoder, not it;
    step 4 copies again. The current model mines (no state) at 1; the start model stays the miner at 0."""
    recipe = tiny_recipe(tmp_path, "clpc", "clpc: {candidates: 6, refresh_every: 2}")
    trainer = make_trainer(tmp_path / "run", recipe=recipe)
    obj, model = trainer.objectives[0], trainer.model
    assert _encoder_equal(obj.state, model.encoder)  # the snapshot starts as the loaded model
    trainer.fit(stop_at=2)
    assert _encoder_equal(obj.state, model.encoder)
    at_two = {k: v.clone() for k, v in obj.state.state_dict().items()}
    trainer.fit(stop_at=3)
    assert not _encoder_equal(obj.state, model.encoder)
    assert all(torch.equal(v, at_two[k]) for k, v in obj.state.state_dict().items())
    trainer.fit(stop_at=4)
    assert _encoder_equal(obj.state, model.encoder) and not obj.state.training

    current = make_trainer(tmp_path / "current", recipe=tiny_recipe(tmp_path, "c1", "clpc: {candidates: 6}"))
    assert current.objectives[0].state is None
    fixed = make_trainer(tmp_path / "fixed", recipe=tiny_recipe(tmp_path, "c0", "clpc: {candidates: 6, refresh_every: 0}"))
    start = {k: v.clone() for k, v in fixed.model.encoder.state_dict().items()}
    fixed.fit()
    assert all(torch.equal(v, start[k]) for k, v in fixed.objectives[0].state.state_dict().items())
    assert not _encoder_equal(fixed.objectives[0].state, fixed.model.encoder)


def test_resume_with_a_snapshot_miner_is_bit_exact(tmp_path):
    """Stopped at step 3 the snapshot is step 2's encoder, which only the checkpoint holds."""
    assert_resume_is_bit_exact(tmp_path, tiny_recipe(tmp_path, "clpc", "clpc: {candidates: 6, refresh_every: 2}"))


@pytest.mark.parametrize("negatives", ["hard", "random"])
def test_negatives_are_other_sentences_and_mining_ignores_dropout(tmp_path, negatives):
    recipe = tiny_recipe(tmp_path, "clpc", f"clpc: {{negatives: {negatives}, candidates: 6}}")
    trainer = make_trainer(tmp_path / "run", "model.dropout=0.5", recipe=recipe)
    obj, model = trainer.objectives[0], trainer.model
    batch = obj.make_batch(trainer.pool, 8, torch.Generator().manual_seed(0))
    assert set(batch.labels.tolist()) == {0, 1} and len(batch.shared) == 6
    model.train()
    pick = obj._negatives(model, batch)
    assert torch.equal(pick, obj._negatives(model, batch)) and model.training  # eval mode only while mining
    assert not (batch.shared_key[pick] == batch.tgt_key).any()
    assert torch.equal(batch.slice(2, 6).shared_key, batch.shared_key)


def test_smoke_run_reaches_head_and_encoder(tmp_path):
    """A finite loss whose gradient reaches the classifier and the encoder through y′'s tokens. (On tiny_run's ten
    pairs a from-scratch model learns only the label prior in 60 steps, with hard or random negatives alike.)"""
    recipe = tiny_recipe(tmp_path, "clpc", "clpc: {candidates: 6}")
    trainer = make_trainer(tmp_path / "run", "model.dropout=0.0", recipe=recipe)
    obj, model = trainer.objectives[0], trainer.model
    batch = obj.make_batch(trainer.pool, 8, torch.Generator().manual_seed(0))
    loss, n, _ = obj(model, batch)
    assert n == 8 and torch.isfinite(loss)
    loss.backward()
    for name in ("heads.clpc.classifier.weight", "encoder.layers.0.attn.qkv.weight", "encoder.embeddings.word.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    assert all(torch.isfinite(torch.tensor(r["train/clpc/loss"])) for r in trainer.fit())
