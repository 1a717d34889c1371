"""BTMLM (ERNIE-M): the placeholders, filling by argmax and by seeded sampling, no graph and no dropout in
pass 1, the cut before counting placeholders, a smoke run."""
from __future__ import annotations

import math

import pytest
import torch

from interlingua.errors import ConfigError
from interlingua.objectives.btmlm import BTMLMConfig, fill_placeholders
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


def test_the_first_pass_builds_no_graph_and_runs_without_dropout(tmp_path):
    """A hook on the encoder sees two calls: pass 1 with outputs outside autograd and the model in eval mode,
    pass 2 with a graph in train mode. ŷ may take no special token and no head row beyond the vocabulary."""
    trainer = _trainer(tmp_path, "btmlm: {mask_prob: 0.3}", "model.dropout=0.3")
    obj, model = trainer.objectives[0], trainer.model
    seen = []
    model.encoder.register_forward_hook(lambda m, i, out: seen.append((out.last_hidden.requires_grad, m.training)))
    batch = obj.make_batch(trainer.pool, 4, torch.Generator().manual_seed(1))
    model.train()
    loss, n, _ = obj(model, batch)
    assert seen == [(False, False), (True, True)] and n > 0 and loss.requires_grad
    never = obj._never(obj.vocab.size + 4, "cpu")  # an LM head wider than the vocabulary
    assert never[[*obj.vocab.special_ids, obj.vocab.size, obj.vocab.size + 3]].all() and never.sum() == 4 + len(
        obj.vocab.special_ids) and not never[12]


def test_long_sentences_are_cut_before_counting_placeholders(tmp_path):
    """max_len 16, r = 1: x is cut to ⌊13 / 2⌋ = 6 tokens, then 6 placeholders; the row is 15 long."""
    trainer = _trainer(tmp_path, "btmlm: {ratio: 1.0}", "data.max_len=16")
    obj = trainer.objectives[0]
    obj.max_len = 16
    trainer.pool.mono["deu"] = [list(range(10, 30))]  # one 20-token sentence
    trainer.pool.mono = {"deu": trainer.pool.mono["deu"]}
    batch = obj.make_batch(trainer.pool, 1, torch.Generator().manual_seed(0))
    x = (batch.segment_ids[0] == 0) & (batch.word_ids[0] >= 0)
    assert int(x.sum()) == 6 and int(batch.fill[0].sum()) == 6 and int(batch.attn_mask[0].sum()) == 15


def test_config_and_smoke_run(tmp_path):
    with pytest.raises(ConfigError, match="ratio"):
        BTMLMConfig(ratio=0)
    rows = _trainer(tmp_path, "btmlm: {mask_prob: 0.3, sample: true}", "train.steps=10").fit()
    assert rows[-1]["train/btmlm/loss"] < rows[0]["train/btmlm/loss"]
