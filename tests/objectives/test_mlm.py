from __future__ import annotations

import math

import torch

from interlingua.data.batches import IGNORE
from interlingua.data.collate import Segment, pack
from interlingua.data.masking import mask_tokens
from interlingua.data.pool import Pool
from interlingua.objectives.mlm import MLM, MLMConfig, masked_lm_loss_sum
from tests.conftest import tiny_model


def test_loss_sum_hand_value():
    """Row 1: logits (0, 0), target 0 -> -log(1/2) = ln 2.
    Row 2: logits (ln 3, 0), target 0 -> p = 3/(3+1) -> -log(3/4) = ln(4/3).
    Sum = ln(8/3) = 0.980829; row 2 is argmax-correct, row 1 a tie resolved to index 0 (correct)."""
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    loss, correct = masked_lm_loss_sum(logits, torch.tensor([0, 0]))
    assert abs(loss.item() - math.log(8 / 3)) < 1e-6 and correct.item() == 2


def test_mask_tokens_rates_and_protected_positions():
    ids = torch.arange(10, 60).repeat(400, 1)  # (400, 50)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False
    out, labels = mask_tokens(ids, maskable, torch.Generator().manual_seed(0), mask_id=4, vocab_size=100, low=8)
    chosen = labels != IGNORE
    assert not chosen[:, 0].any()
    assert abs(chosen.float().mean().item() / (49 / 50) - 0.15) < 0.005
    assert torch.equal(labels[chosen], ids[chosen])
    masked = (out == 4) & chosen
    kept = (out == ids) & chosen
    assert abs(masked.sum().item() / chosen.sum().item() - 0.8) < 0.02
    # 10 % kept on purpose plus random draws that hit the same id (1/92 of the random 10 %)
    assert abs(kept.sum().item() / chosen.sum().item() - (0.1 + 0.1 / 92)) < 0.015
    assert torch.equal(out[~chosen], ids[~chosen])


def _batch(vocab, gen_seed=0):
    pool = Pool(pivot="eng", alpha=0.7, mono={"eng": vocab.encode(["the cat runs", "a big red dog sleeps"]),
                                              "deu": vocab.encode(["der hund", "die katze"])})
    return MLM(MLMConfig(mask_prob=0.5), vocab, 32).make_batch(pool, 6, torch.Generator().manual_seed(gen_seed))


def test_zero_head_gives_n_log_v(vocab):
    """With the LM head's LayerNorm gain and bias at 0, every logit is 0: loss = n · ln V exactly."""
    model = tiny_model(vocab.size)
    torch.nn.init.zeros_(model.head("lm").norm.weight)
    batch = _batch(vocab)
    loss, n, _ = MLM(MLMConfig(), vocab, 32)(model, batch)
    assert n == batch.num_items > 0
    assert abs(loss.item() - n * math.log(vocab.size)) < 1e-4


def test_padding_invariance(vocab):
    """Extra padding columns change neither the loss sum nor the item count."""
    model = tiny_model(vocab.size).eval()
    batch = _batch(vocab)
    loss, n, _ = MLM(MLMConfig(), vocab, 32)(model, batch)
    pad = lambda t, v: torch.cat([t, torch.full((t.shape[0], 5), v, dtype=t.dtype)], 1)  # noqa: E731
    batch.input_ids, batch.labels = pad(batch.input_ids, vocab.pad_id), pad(batch.labels, IGNORE)
    batch.attn_mask, batch.position_ids = pad(batch.attn_mask, False), pad(batch.position_ids, 0)
    batch.lang_ids, batch.segment_ids = pad(batch.lang_ids, 0), pad(batch.segment_ids, 0)
    loss2, n2, _ = MLM(MLMConfig(), vocab, 32)(model, batch)
    assert n2 == n and abs(loss2.item() - loss.item()) < 1e-4


def test_batch_split_invariance(vocab):
    """Loss sums over two halves add up to the whole batch's sum."""
    model = tiny_model(vocab.size).eval()
    batch, mlm = _batch(vocab), MLM(MLMConfig(), vocab, 32)
    whole = mlm(model, batch)[0].item()
    halves = mlm(model, batch.slice(0, 3))[0].item() + mlm(model, batch.slice(3, 6))[0].item()
    assert abs(whole - halves) < 1e-4


def test_smoke_finite_loss_and_gradients(vocab):
    model = tiny_model(vocab.size)
    loss, n, metrics = MLM(MLMConfig(), vocab, 32)(model, _batch(vocab))
    (loss / n).backward()
    assert torch.isfinite(loss) and metrics["train/mlm/n"] == n
    assert model.encoder.embeddings.word.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.layers[0].parameters())


def test_pack_layout(vocab):
    p = pack([[Segment([10, 11], 1)], [Segment([12], 2)]], vocab, 16)
    assert p.input_ids.tolist() == [[vocab.cls_id, 10, 11, vocab.sep_id], [vocab.cls_id, 12, vocab.sep_id, vocab.pad_id]]
    assert p.attn_mask.tolist() == [[True] * 4, [True, True, True, False]]
    assert p.maskable.tolist() == [[False, True, True, False], [False, True, False, False]]
    assert p.lang_ids[1, :3].tolist() == [2, 2, 2]


def test_random_replacements_avoid_special_ids():
    """With p_random = 1 every chosen token is replaced by a random id, never one of the excluded ids."""
    ids = torch.full((50, 40), 7)
    exclude = torch.tensor([0, 1, 2, 3, 9])  # 9 plays XLM-R's <mask> at the end of a 10-token vocabulary
    out, labels = mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), torch.Generator().manual_seed(0),
                              mask_id=9, vocab_size=10, prob=1.0, p_mask=0.0, p_random=1.0, exclude=exclude)
    assert (labels == 7).all() and not torch.isin(out, exclude).any() and (out != 7).any()
