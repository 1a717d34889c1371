"""Back-translation: the gradient is exactly the second pass's, the schedule, a smoke run with DAE."""
from __future__ import annotations

import math

import torch

from interlingua.data.pair_batches import encode_side
from interlingua.data.seq2seq_batches import Seq2SeqBatch
from interlingua.models.generate import SearchConfig, Special, generate
from interlingua.objectives.xae import seq2seq_prediction
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer


def _bt(tmp_path, spec="bt: {}", *extra):
    trainer = make_trainer(tmp_path / "run", *extra, recipe=tiny_recipe(tmp_path, "bt", spec))
    obj = next(o for o in trainer.objectives if o.name == "bt")
    return trainer, obj


def _grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def test_gradient_is_that_of_the_second_pass_alone(tmp_path):
    """BT's gradient == the teacher-forced loss on (ŷ -> x) with ŷ generated beforehand: nothing flows into
    the first pass (it runs without gradient, in eval mode)."""
    trainer, obj = _bt(tmp_path)
    model, v = trainer.model, trainer.model and obj.vocab
    batch = obj.make_batch(trainer.pool, 4, torch.Generator().manual_seed(0))
    model.train()
    torch.manual_seed(0)
    loss, n, _ = obj(model, batch)
    loss.backward()
    got = _grads(model)
    model.zero_grad()
    ys = generate(model, batch.src, batch.back, Special(v.cls_id, v.sep_id, v.pad_id), SearchConfig())
    assert model.training  # generate restored the mode
    src = encode_side([(y, int(b)) for y, b in zip(ys, batch.back)], v, obj.max_len)
    torch.manual_seed(0)
    ref, n_ref, _ = seq2seq_prediction(model, Seq2SeqBatch(src, batch.tgt), "bt")
    ref.backward()
    want = _grads(model)
    assert n == n_ref == batch.num_items and got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0, msg=k)


def test_translation_direction(tmp_path):
    """A pivot (eng) sentence goes into deu or fra; a deu or fra sentence into eng."""
    trainer, obj = _bt(tmp_path)
    batch = obj.make_batch(trainer.pool, 32, torch.Generator().manual_seed(0))
    eng = obj.vocab.lang_index("eng")
    src_lang = batch.src.lang_ids[:, 0]
    assert bool(((src_lang == eng) == (batch.back != eng)).all())
    assert set(batch.back[src_lang == eng].tolist()) == {obj.vocab.lang_index("deu"), obj.vocab.lang_index("fra")}


def test_no_items_before_start_step(tmp_path):
    trainer, obj = _bt(tmp_path, "bt: {start_step: 3}\n  dae: {}", "train.steps=4")
    rows = trainer.fit()
    assert [r.get("train/bt/loss", 0.0) == 0.0 for r in rows] == [True, True, True, False]
    assert all(math.isfinite(r["train/dae/loss"]) for r in rows)
