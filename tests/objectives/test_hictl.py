"""HICTL: interpolated hard negatives and both losses by hand, the p̄ window as state, seeded vocabulary
negatives, bit-exact resume and a smoke run."""
from __future__ import annotations

import math

import pytest
import torch

from interlingua.errors import ConfigError
from interlingua.objectives.hictl import (
    HICTLConfig, HICTLState, hard_vocab_negatives, interpolate_negatives, sentence_loss_sum, word_loss_sum,
)
from tests.objectives.stateful import assert_resume_is_bit_exact, ddp_difference, tiny_recipe
from tests.training.tiny_run import make_trainer



@pytest.fixture
def recipe(tmp_path) -> str:
    return tiny_recipe(tmp_path, "hictl", "hictl: {window: 3, zeta: 0.5, scale: 5.0, word_negatives: 4, pooling: mean}")


def test_interpolation_moves_only_farther_negatives():
    """Anchor 0, positive (1, 0): d⁺ = 1. A negative at (4, 0) (d⁻ = 4) with ζ·p̄ = 0.5 moves by λ = (1/4)^{0.5}
    = 0.5 to (2, 0); one at (0.5, 0) is nearer than the positive and stays; the positive stays; power 0 keeps all."""
    x, y = torch.zeros(1, 2), torch.tensor([[1.0, 0.0], [4.0, 0.0], [0.5, 0.0]])
    got = interpolate_negatives(x, y, torch.tensor([0]), 0.5)
    torch.testing.assert_close(got[0], torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.5, 0.0]]))
    torch.testing.assert_close(interpolate_negatives(x, y, torch.tensor([0]), 0.0)[0], y)


def test_hand_value_sentence_level():
    """x = (1, 0), positive (0.8, 0.6): d⁺ = √0.4; negative (−1, 0): d⁻ = 2, λ = (√0.4 / 2)^1 = 0.316228, so
    ĥ = (1 − 2λ, 0) and L = ln(1 + e^{(1 − 2λ) − 0.8}) at scale 1; e^{−L} is the positive's probability."""
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.8, 0.6], [-1.0, 0.0]])
    loss, correct, prob = sentence_loss_sum(x, y, torch.tensor([0]), 1.0, 1.0)
    lam = math.sqrt(0.4) / 2
    want = math.log1p(math.exp(1 - 2 * lam - 0.8))
    assert loss.item() == pytest.approx(want, abs=1e-6) and correct.item() == 1
    assert prob.item() == pytest.approx(math.exp(-want), abs=1e-6)
    plain, _, _ = sentence_loss_sum(x, y, torch.tensor([0]), 1.0, 0.0)  # p̄ = 0: the plain InfoNCE
    assert plain.item() == pytest.approx(math.log1p(math.exp(-1 - 0.8)), abs=1e-6)


def test_hand_value_word_level():
    """c = (1, 0); embeddings e₀ = (1, 0), e₁ = (0, 1), e₂ = (−1, 0); positives {0, 1}, negative {2}, scale 1:
    L = ½ [ln(1 + e^{−2}) + ln(1 + e^{−1})]. A padded positive (−1) is ignored."""
    c, emb = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    want = 0.5 * (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))
    got = word_loss_sum(c, emb, torch.tensor([[0, 1, -1]]), torch.tensor([[2]]), 1.0)
    assert got.item() == pytest.approx(want, abs=1e-6)


def test_vocabulary_negatives_are_seeded_hard_and_never_excluded():
    torch.manual_seed(0)
    emb, c = torch.randn(50, 8), torch.randn(2, 8)
    exclude = torch.zeros(2, 50, dtype=torch.bool)
    exclude[:, :10] = True
    a = hard_vocab_negatives(c, emb, exclude, 5, 1.0, [3, 4])
    assert torch.equal(a, hard_vocab_negatives(c, emb, exclude, 5, 1.0, [3, 4]))  # same seeds, same draw
    assert (a >= 10).all() and all(len(set(r.tolist())) == 5 for r in a)
    # Row 1 alone with its seed draws what it drew in the batch: draws do not depend on the other rows.
    assert torch.equal(hard_vocab_negatives(c[1:], emb, exclude[1:], 5, 1.0, [4])[0], a[1])
    # At a high scale the draw is the top of the similarity.
    sims = torch.nn.functional.normalize(c, dim=-1) @ torch.nn.functional.normalize(emb, dim=-1).T
    top = sims.masked_fill(exclude, -2).topk(5).indices
    hot = hard_vocab_negatives(c, emb, exclude, 5, 1e4, [3, 4])
    assert all(set(h.tolist()) == set(t.tolist()) for h, t in zip(hot, top))


def test_p_bar_is_the_mean_of_the_last_window_steps():
    s = HICTLState(3)
    assert s.mean() == 0.0
    for v in (0.1, 0.2, 0.3, 0.7):
        s.push(v)
    assert s.mean() == pytest.approx((0.2 + 0.3 + 0.7) / 3)


def test_config_checks():
    with pytest.raises(ConfigError, match="zeta"):
        HICTLConfig(zeta=1.0)


def test_smoke_run_logs_both_levels_and_fills_p_bar(tmp_path, recipe):
    trainer = make_trainer(tmp_path / "run", "objectives.hictl.word_weight=0.5", recipe=recipe)
    rows = trainer.fit()
    last = rows[-1]
    assert last["train/hictl/loss"] == pytest.approx(last["train/hictl/sentence"] + 0.5 * last["train/hictl/word"],
                                                     rel=1e-5)
    assert last["train/hictl/word"] > 0 and int(trainer.objectives[0].state.filled) == 3
    assert 0 < last["train/hictl/p_bar"] < 1


def test_lambda_carries_no_gradient():
    """ĥ = x + λ(y − x) with λ = 0.5 held constant: ∂ĥ/∂x = 1 − λ = 0.5 (λ's dependence on x is cut)."""
    x = torch.zeros(1, 2, requires_grad=True)
    y = torch.tensor([[1.0, 0.0], [4.0, 0.0]])
    interpolate_negatives(x, y, torch.tensor([0]), 0.5)[0, 1, 0].backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.5, 0.0]]))


def test_a_skipped_step_adds_nothing_to_the_window(tmp_path, recipe):
    """With train.skip_nonfinite, NaN steps 4-6 push no (NaN) probability: p̄ stays that of steps 1-3."""
    from tests.training.test_run_folder import _NanFrom

    trainer = make_trainer(tmp_path / "run", "train.skip_nonfinite=true", recipe=recipe)
    obj = trainer.objectives[0]
    trainer.objectives[0] = _NanFrom(obj, trainer, start=3)
    trainer.fit()
    assert int(obj.state.filled) == 3 and torch.isfinite(obj.state.history).all() and obj.pending == []


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path, recipe):
    """Gathered candidates, p̄ from the global batch, vocabulary draws seeded per global row."""
    worst = ddp_difference(tmp_path, recipe)
    assert worst <= 1e-5, worst


def test_resume_restores_the_window_bit_exactly(tmp_path, recipe):
    assert_resume_is_bit_exact(tmp_path, recipe)
