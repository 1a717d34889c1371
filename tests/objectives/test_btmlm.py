"""BTMLM (ERNIE-M): the placeholders, filling by argmax and by seeded sampling, no gradient into pass 1, a smoke run."""
from __future__ import annotations

import math

import pytest
import torch

from interlingua.data.batches import TokenBatch
from interlingua.errors import ConfigError
from interlingua.objectives.btmlm import BTMLMConfig, fill_placeholders
from interlingua.objectives.camlm import cross_attention_mask
from interlingua.objectives.mlm import masked_prediction
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer


def _trainer(tmp_path, objectives="btmlm: {mask_prob: 0.3}", *overrides):
    return make_trainer(tmp_path / "run", *overrides, recipe=tiny_recipe(tmp_path, "btmlm", objectives))


def test_placeholders_follow_the_sentence_in_another_language(tmp_path):
    trainer = _trainer(tmp_path, "btmlm: {ratio: 0.5}")
    obj, vocab = trainer.objectives[0], trainer.objectives[0].vocab
    batch = obj.make_batch(trainer.pool, 6, torch.Generator().manual_seed(0))
    for b in range(6):
        x = (batch.segment_ids[b] == 0) & (batch.word_ids[b] >= 0)
        k = int(batch.fill[b].sum())
        assert k == math.ceil(0.5 * int(x.sum()))  # k = ⌈r·|x|⌉ (no truncation at these lengths)
        assert (batch.clean_ids[b][batch.fill[b]] == vocab.mask_id).all()
        assert (batch.labels[b][batch.segment_ids[b] == 1] == -100).all()  # ŷ is never predicted
        pos = batch.position_ids[b][batch.fill[b]]
        assert pos.tolist() == list(range(k))  # positions restart at 0 on side 1
        assert len(set(batch.lang_ids[b][batch.fill[b]].tolist())) == 1
        assert batch.lang_ids[b][batch.fill[b]][0] != batch.lang_ids[b][1]


def test_fill_by_argmax_and_by_seeded_sampling():
    """Row 0 has placeholders at 1, 2; row 1 at 0. Argmax of the three logit rows: 2, 0, 1. Sampling with
    the same seeds repeats; a near-one-hot distribution samples its peak."""
    ids = torch.tensor([[5, 9, 9], [9, 5, 5]])
    fill = ids == 9
    logits = torch.tensor([[0.0, 1.0, 3.0], [2.0, 0.0, 0.0], [0.0, 5.0, 1.0]])
    assert fill_placeholders(ids, fill, logits).tolist() == [[5, 2, 0], [1, 5, 5]]
    peaked = logits * 100
    assert fill_placeholders(ids, fill, peaked, seeds=[1, 2]).tolist() == [[5, 2, 0], [1, 5, 5]]
    flat = torch.zeros(3, 50)
    assert torch.equal(fill_placeholders(ids, fill, flat, [7, 8]), fill_placeholders(ids, fill, flat, [7, 8]))


def test_no_gradient_reaches_the_first_pass(tmp_path):
    """The loss's gradient equals the gradient of pass 2 alone with ŷ fed in as constant input ids."""
    trainer = _trainer(tmp_path)
    obj, model = trainer.objectives[0], trainer.model
    batch = obj.make_batch(trainer.pool, 4, torch.Generator().manual_seed(1))
    loss, n, _ = obj(model, batch)
    assert n > 0 and loss.requires_grad
    assert not any(t.requires_grad for t in (batch.clean_ids, batch.input_ids))
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    with torch.no_grad():
        first = {**batch.encoder_inputs(), "input_ids": batch.clean_ids,
                 "attn_mask": cross_attention_mask(batch.attn_mask, batch.segment_ids)}
        y_hat = model.head("lm")(model.encoder(**first).last_hidden[batch.fill]).argmax(-1)
    second = batch.input_ids.clone()
    second[batch.fill] = y_hat
    plain = TokenBatch(second, batch.attn_mask, batch.labels, batch.position_ids, batch.lang_ids, batch.segment_ids)
    masked_prediction(model, plain, "btmlm")[0].backward()
    for k, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(p.grad, grads[k])


def test_config_and_smoke_run(tmp_path):
    with pytest.raises(ConfigError, match="ratio"):
        BTMLMConfig(ratio=0)
    rows = _trainer(tmp_path, "btmlm: {mask_prob: 0.3, sample: true}", "train.steps=10").fit()
    assert rows[-1]["train/btmlm/loss"] < rows[0]["train/btmlm/loss"]
