"""XAE: the token loss by hand, the batch layout, a smoke run whose loss falls."""
from __future__ import annotations

import math

import torch

from interlingua.data.batches import IGNORE
from interlingua.data.seq2seq_batches import Seq2SeqBatch
from interlingua.objectives.xae import seq2seq_nll
from tests.objectives.stateful import assert_resume_is_bit_exact, tiny_recipe
from tests.training.tiny_run import make_trainer


def test_nll_by_hand():
    """Logits [ln 1, ln 3] and [0, 0]: -log(3/4) - log(1/2) = ln(4/3) + ln 2; arg-max right once (row 1)."""
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    loss, correct = seq2seq_nll(logits, torch.tensor([1, 0]))
    assert math.isclose(float(loss), math.log(4 / 3) + math.log(2), rel_tol=1e-6)
    assert correct == 2  # a tie's arg-max is the first index, 0 = the label


def test_target_is_shifted_and_carries_the_target_language(vocab):
    """<s> cat runs </s> in deu-row 0 -> decoder reads <s> cat runs, predicts cat runs </s>; padding ignored."""
    cat, runs, dog = vocab.encode(["cat runs dog"])[0]
    b = Seq2SeqBatch.build([([cat], 1), ([dog], 1)], [([cat, runs], 0), ([dog], 2)], vocab, 16)
    assert b.tgt.input_ids.tolist() == [[vocab.cls_id, cat, runs], [vocab.cls_id, dog, vocab.sep_id]]
    assert b.tgt.labels.tolist() == [[cat, runs, vocab.sep_id], [dog, vocab.sep_id, IGNORE]]
    assert b.tgt.lang_ids.tolist()[1] == [2, 2, 2] and b.num_items == 5
    assert b.src.input_ids.tolist()[0] == [vocab.cls_id, cat, vocab.sep_id]


def test_smoke_run_loss_falls(tmp_path):
    recipe = tiny_recipe(tmp_path, "xae", "xae: {}")
    rows = make_trainer(tmp_path / "run", "train.steps=12", recipe=recipe).fit()
    assert all(math.isfinite(r["train/xae/loss"]) for r in rows)
    assert rows[-1]["train/xae/loss"] < rows[0]["train/xae/loss"]


def test_resume_is_bit_exact(tmp_path):
    assert_resume_is_bit_exact(tmp_path, tiny_recipe(tmp_path, "xae", "xae: {}"))
