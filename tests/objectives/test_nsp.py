from __future__ import annotations

import math

import torch

from interlingua.data.pool import Pool
from interlingua.objectives.base import ObjectiveConfig
from interlingua.objectives.nsp import NSP, nsp_loss_sum
from tests.conftest import tiny_model


def test_loss_sum_hand_value():
    """logits (2, 0) label 1: -log(1/(1+e^2)) = ln(1+e^2) = 2.126928; logits (0, 0) label 0: ln 2.
    Sum = 2.820075; one correct (row 2's tie goes to index 0)."""
    loss, correct = nsp_loss_sum(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.tensor([1, 0]))
    assert abs(loss.item() - (math.log(1 + math.e**2) + math.log(2))) < 1e-6 and correct.item() == 1


def _pool(vocab):
    docs = [vocab.encode(["the cat", "the dog", "a house"]), vocab.encode(["der hund", "die katze", "das haus"])]
    return Pool(pivot="eng", alpha=1.0, docs={"eng": docs})


def test_is_next_rows_are_consecutive(vocab):
    pool = _pool(vocab)
    batch = NSP(ObjectiveConfig(), vocab, 32).make_batch(pool, 200, torch.Generator().manual_seed(0))
    assert 0.35 < batch.class_labels.float().mean().item() < 0.65
    follow = {tuple(a + b) for d in pool.docs["eng"] for a, b in zip(d, d[1:])}
    for row in range(len(batch)):
        ids = batch.input_ids[row][batch.attn_mask[row]].tolist()
        a, b = ids[1 : ids.index(vocab.sep_id)], ids[ids.index(vocab.sep_id) + 1 : -1]
        if batch.class_labels[row] == 1:
            assert tuple(a + b) in follow
        assert set(batch.segment_ids[row][batch.attn_mask[row]].tolist()) == {0, 1}
    assert batch.num_items == 200


def test_smoke_gradients(vocab):
    model = tiny_model(vocab.size, heads=("nsp",), n_segments=2)
    nsp = NSP(ObjectiveConfig(), vocab, 32)
    loss, n, _ = nsp(model, nsp.make_batch(_pool(vocab), 8, torch.Generator().manual_seed(1)))
    (loss / n).backward()
    assert torch.isfinite(loss) and n == 8
    assert model.encoder.embeddings.segment.weight.grad.abs().sum() > 0
    assert model.head("nsp").classifier.weight.grad.abs().sum() > 0
