"""CAMLM (ERNIE-M): the cross-attention mask of a 3 + 2-token pair by hand, its effect on the encoder, a smoke run."""
from __future__ import annotations

import torch

from interlingua.objectives.camlm import cross_attention_mask
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer


def test_mask_of_a_three_plus_two_token_pair_by_hand():
    """<s> x₁ x₂ x₃ </s> y₁ y₂ </s> <pad>: sides 0 0 0 0 0 1 1 1 (padding 1). Side 0 (positions 0-4) sees
    positions 5-7 and itself; side 1 (5-7) sees 0-4 and itself; nobody sees the padding (8), not even itself:
    its row sees side 0 only (its output is never used)."""
    seg = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 1]])
    real = torch.tensor([[True] * 8 + [False]])
    want = torch.tensor([
        [1, 0, 0, 0, 0, 1, 1, 1, 0],
        [0, 1, 0, 0, 0, 1, 1, 1, 0],
        [0, 0, 1, 0, 0, 1, 1, 1, 0],
        [0, 0, 0, 1, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 1, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 1, 0],
        [1, 1, 1, 1, 1, 0, 0, 0, 0],
    ], dtype=torch.bool)
    assert torch.equal(cross_attention_mask(real, seg)[0], want)


def test_in_the_first_block_an_x_position_does_not_depend_on_the_rest_of_x(tmp_path):
    """Invariance: changing x₂ leaves block 1's outputs at x₁ and x₃ exactly unchanged (they see only y and
    themselves) and changes every y position's. From block 2 on the change reaches x₁ through y."""
    trainer = make_trainer(tmp_path / "run", recipe=tiny_recipe(tmp_path, "camlm", "camlm: {}"))
    enc = trainer.model.encoder.eval()
    ids = torch.tensor([[0, 10, 11, 12, 2, 13, 14, 2]])
    seg = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1]])
    mask = cross_attention_mask(torch.ones(1, 8, dtype=torch.bool), seg)
    kw = {"segment_ids": seg, "lang_ids": torch.zeros_like(ids), "output_hidden_states": True}
    a = enc(ids, mask, **kw).hidden_states
    b = enc(ids.index_put((torch.tensor([0]), torch.tensor([2])), torch.tensor(15)), mask, **kw).hidden_states
    assert torch.equal(a[1][0, [1, 3]], b[1][0, [1, 3]])
    assert not torch.allclose(a[1][0, 5:7], b[1][0, 5:7])
    assert not torch.equal(a[2][0, 1], b[2][0, 1])


def test_smoke_run(tmp_path):
    recipe = tiny_recipe(tmp_path, "camlm", "camlm: {mask_prob: 0.3}")
    trainer = make_trainer(tmp_path / "run", "train.steps=10", recipe=recipe)
    rows = trainer.fit()
    assert all(torch.isfinite(torch.tensor(r["train/camlm/loss"])) for r in rows)
    assert rows[-1]["train/camlm/loss"] < rows[0]["train/camlm/loss"]
