from __future__ import annotations

import math

import torch

from interlingua.data.pool import Pool
from interlingua.objectives.base import ObjectiveConfig
from interlingua.objectives.clm import CLM, next_token_labels
from tests.conftest import tiny_model


def test_next_token_labels():
    ids = torch.tensor([[0, 7, 8, 2], [0, 9, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    assert next_token_labels(ids, mask).tolist() == [[7, 8, 2, -100], [9, 2, -100, -100]]


def _batch(vocab):
    pool = Pool(pivot="eng", alpha=1.0, mono={"eng": vocab.encode(["the cat runs", "a big red dog sleeps"])})
    return CLM(ObjectiveConfig(), vocab, 32).make_batch(pool, 4, torch.Generator().manual_seed(0))


def test_zero_head_gives_n_log_v(vocab):
    model = tiny_model(vocab.size)
    torch.nn.init.zeros_(model.head("lm").norm.weight)
    batch = _batch(vocab)
    loss, n, _ = CLM(ObjectiveConfig(), vocab, 32)(model, batch)
    assert n == int(batch.attn_mask.sum()) - len(batch)  # every real token but <s> is a target
    assert abs(loss.item() - n * math.log(vocab.size)) < 1e-4


def test_causal_mask_hides_the_future(vocab):
    model = tiny_model(vocab.size).eval()
    batch = _batch(vocab)
    h1 = model.encoder(**batch.encoder_inputs(), causal=True).last_hidden
    batch.input_ids[:, 3:] = 12
    h2 = model.encoder(**batch.encoder_inputs(), causal=True).last_hidden
    assert torch.allclose(h1[:, :3], h2[:, :3], atol=1e-6)
    assert not torch.allclose(h1[:, 3:], h2[:, 3:], atol=1e-4)


def test_smoke_gradients(vocab):
    model = tiny_model(vocab.size)
    loss, n, _ = CLM(ObjectiveConfig(), vocab, 32)(model, _batch(vocab))
    (loss / n).backward()
    assert torch.isfinite(loss) and model.encoder.layers[1].ff_in.weight.grad.abs().sum() > 0
