from __future__ import annotations

import math

import pytest
import torch

from interlingua.data.pool import Pool
from interlingua.data.tasks import NLI_LABELS, sick_nli
from interlingua.errors import CorpusError
from interlingua.objectives.nli import NLI, NLIConfig, nli_loss_sum, pair_features
from tests.conftest import tiny_model

ROWS = [("the cat runs", "a cat runs", 0), ("the dog sleeps", "a big dog sleeps", 1),
        ("the cat runs", "the cat sleeps", 2)]


def _pool(vocab) -> Pool:
    a, b = vocab.encode([r[0] for r in ROWS]), vocab.encode([r[1] for r in ROWS])
    return Pool(pivot="eng", alpha=1.0, tasks={"sick": {"eng": [(x, y, r[2]) for x, y, r in zip(a, b, ROWS)]}})


def test_features_and_loss_hand_values():
    """u = (1, 2), v = (3, 1): [u, v, |u-v|, u*v] = (1, 2, 3, 1, 2, 1, 3, 2).
    logits (ln 2, 0, 0): p = (1/2, 1/4, 1/4); label 0 costs ln 2, label 2 costs ln 4: sum ln 8, 1 correct."""
    feats = pair_features(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 1.0]]))
    assert feats.tolist() == [[1.0, 2.0, 3.0, 1.0, 2.0, 1.0, 3.0, 2.0]]
    logits = torch.tensor([[math.log(2), 0.0, 0.0]] * 2)
    loss, correct = nli_loss_sum(logits, torch.tensor([0, 2]))
    assert abs(loss.item() - math.log(8)) < 1e-6 and correct.item() == 1


def test_batch_split_sums_to_whole_batch(vocab):
    """Rows do not interact: two halves (two processes, or two micro-batches) sum to the whole."""
    obj = NLI(NLIConfig(), vocab, 16)
    model = tiny_model(vocab.size, heads=obj.heads).eval()
    batch = obj.make_batch(_pool(vocab), 6, torch.Generator().manual_seed(0))
    assert batch.labels.shape == (6,) and batch.num_items == 6
    with torch.no_grad():
        whole = obj(model, batch)[0]
        halves = obj(model, batch.slice(0, 3))[0] + obj(model, batch.slice(3, 6))[0]
    assert abs(whole.item() - halves.item()) < 1e-4


def test_sick_labels():
    try:
        rows = sick_nli("train")
    except CorpusError:
        pytest.skip("SICK is not in the corpora folder")
    assert len(rows) == 4500 and {c for *_, c in rows} == {0, 1, 2} and NLI_LABELS[0] == "ENTAILMENT"


def test_smoke_gradients(vocab):
    obj = NLI(NLIConfig(), vocab, 16)
    model = tiny_model(vocab.size, heads=obj.heads)
    loss, n, m = obj(model, obj.make_batch(_pool(vocab), 8, torch.Generator().manual_seed(1)))
    (loss / n).backward()
    assert torch.isfinite(loss) and n == 8 and m["train/nli/n"] == 8
    assert model.head("nli").hidden.weight.grad.abs().sum() > 0
    assert model.encoder.layers[0].ff_in.weight.grad.abs().sum() > 0
