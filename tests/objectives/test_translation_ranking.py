from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from interlingua.data.pool import Pool
from interlingua.objectives.translation_ranking import (
    TranslationRanking, TranslationRankingConfig, ranking_loss_sum, ranking_terms,
)
from tests.conftest import tiny_model
from tests.objectives.ranking_run import make_ranking_trainer

REPO = Path(__file__).resolve().parents[2]
X = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
Y = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
LABELS = torch.tensor([0, 1])


def test_hand_value_2x2_margin_and_scale():
    """x = (1,0), (0,1); y = (1,0), (0.6,0.8); φ = [[1, 0.6], [0, 0.8]]; m = 0.3, s = 10.
    x→y row 0: logits (10·0.7, 10·0.6) = (7, 6): ln(1 + e^{-1}) = 0.313262;
    row 1: (0, 10·0.5) = (0, 5): ln(1 + e^{-5}) = 0.006715. Sum 0.319977, both argmax φ correct.
    y→x (φᵀ = [[1, 0], [0.6, 0.8]]): row 0 (7, 0): ln(1 + e^{-7}) = 0.000911; row 1 (6, 5): ln(1 + e) = 1.313262;
    row 1 still counts as correct (accuracy reads φ: 0.8 > 0.6) although the margin makes its logit lose."""
    loss, correct = ranking_loss_sum(X, Y, LABELS, 0.3, 10.0)
    assert abs(loss.item() - (math.log1p(math.exp(-1)) + math.log1p(math.exp(-5)))) < 1e-5 and correct.item() == 2
    back, back_correct = ranking_loss_sum(Y, X, LABELS, 0.3, 10.0)
    assert abs(back.item() - (math.log1p(math.exp(-7)) + math.log1p(math.e))) < 1e-5 and back_correct.item() == 2


def test_duplicate_is_not_a_negative():
    """Masking candidate 1 for query 0 leaves only the positive: row 0's loss is 0, row 1's is unchanged."""
    dup = torch.tensor([[False, True], [False, False]])
    loss, _ = ranking_loss_sum(X, Y, LABELS, 0.3, 10.0, dup)
    assert abs(loss.item() - math.log1p(math.exp(-5))) < 1e-5


def test_extra_negatives_join_every_querys_softmax():
    """One extra negative e = (−1, 0): φ(x₀, e) = −1, φ(x₁, e) = 0, so with m = 0.3, s = 10
    row 0: logits (7, 6, −10): ln(1 + e^{-1} + e^{-17}); row 1: (0, 5, 0): ln(1 + 2e^{-5}). A duplicate mask
    over the C batch candidates still applies (row 0 masked at column 1: ln(1 + e^{-17}))."""
    extra = torch.tensor([[-1.0, 0.0]])
    loss, correct = ranking_loss_sum(X, Y, LABELS, 0.3, 10.0, extra=extra)
    want = math.log(1 + math.exp(-1) + math.exp(-17)) + math.log(1 + 2 * math.exp(-5))
    assert abs(loss.item() - want) < 1e-5 and correct.item() == 2
    dup = torch.tensor([[False, True], [False, False]])
    masked, _ = ranking_loss_sum(X, Y, LABELS, 0.3, 10.0, dup, extra=extra)
    assert abs(masked.item() - (math.log1p(math.exp(-17)) + math.log(1 + 2 * math.exp(-5)))) < 1e-5
    close = torch.tensor([[0.0, 1.0]])  # x₁ itself: φ = 1 beats its positive's 0.8, so row 1 is no longer correct
    assert ranking_loss_sum(X, Y, LABELS, 0.3, 10.0, extra=close)[1].item() == 1


def test_per_query_candidates():
    """(Q, C, D) candidates: the same for every query reproduce the shared (C, D) loss; query 1's own set
    ((0, 1) as its negative instead of (1, 0)) gives ln(1 + e^{10·(1 − 0.8 + 0.3)}) = ln(1 + e^5) for row 1."""
    shared, _ = ranking_loss_sum(X, Y, LABELS, 0.3, 10.0)
    torch.testing.assert_close(ranking_loss_sum(X, Y.expand(2, 2, 2), LABELS, 0.3, 10.0)[0], shared)
    own = torch.stack([Y, torch.tensor([[0.0, 1.0], [0.6, 0.8]])])  # (2, 2, 2)
    loss, correct = ranking_loss_sum(X, own, LABELS, 0.3, 10.0)
    want = math.log1p(math.exp(-1)) + math.log1p(math.exp(5))
    assert abs(loss.item() - want) < 1e-5 and correct.item() == 1


def _pair_batch(vocab, texts):
    from interlingua.data.pair_batches import PairBatch

    src = [(ids, 0) for ids in vocab.encode([s for s, _ in texts])]
    tgt = [(ids, 1) for ids in vocab.encode([t for _, t in texts])]
    return PairBatch.build(src, tgt, vocab, 16)


TEXTS = [("die katze", "the cat"), ("der hund", "the dog"), ("le chat", "the cat"), ("das haus", "a house")]


def test_bidirectional_sum_dup_mask_and_row_order(vocab):
    """L = L(x→y) + L(y→x) summed over rows; rows 0 and 2 share the target "the cat", so neither is the
    other's negative; a permutation of the rows leaves the sum unchanged."""
    torch.manual_seed(0)
    x, y = torch.randn(4, 8), torch.randn(4, 8)
    batch = _pair_batch(vocab, TEXTS)
    assert batch.tgt_key[0] == batch.tgt_key[2] and batch.tgt_key[0] != batch.tgt_key[1]
    cfg = TranslationRankingConfig(scale=5.0)
    loss, n, m = ranking_terms(x, y, batch, cfg, "translation_ranking")
    xn, yn = torch.nn.functional.normalize(x, dim=-1), torch.nn.functional.normalize(y, dim=-1)
    dup = torch.zeros(4, 4, dtype=torch.bool)
    dup[0, 2] = dup[2, 0] = True
    want = sum(ranking_loss_sum(a, b, torch.arange(4), 0.3, 5.0, dup)[0] for a, b in ((xn, yn), (yn, xn)))
    assert n == 4 and abs(loss.item() - want.item()) < 1e-5 and m["train/translation_ranking/n"] == 4
    one_way, _, _ = ranking_terms(x, y, batch, TranslationRankingConfig(scale=5.0, bidirectional=False), "t")
    assert abs(one_way.item() - ranking_loss_sum(xn, yn, torch.arange(4), 0.3, 5.0, dup)[0].item()) < 1e-5
    perm = torch.tensor([2, 0, 3, 1])
    shuffled, _, _ = ranking_terms(x[perm], y[perm], _pair_batch(vocab, [TEXTS[i] for i in perm]), cfg, "t")
    assert abs(shuffled.item() - loss.item()) < 1e-5


def test_split_queries_with_offset_labels_equal_whole_batch():
    """What two processes compute: each its own queries against all candidates, labels offset by rank·B."""
    torch.manual_seed(1)
    x, y = (torch.nn.functional.normalize(torch.randn(6, 4), dim=-1) for _ in range(2))
    whole, _ = ranking_loss_sum(x, y, torch.arange(6), 0.3, 20.0)
    parts = [ranking_loss_sum(x[r * 3 : r * 3 + 3], y, r * 3 + torch.arange(3), 0.3, 20.0)[0] for r in range(2)]
    assert abs(whole.item() - sum(p.item() for p in parts)) < 1e-4


def _pool(vocab):
    def side(xs, ps):
        return [(p, x) for x, p in zip(vocab.encode(xs), vocab.encode(ps))]

    pairs = {"deu": side(["die katze", "der hund"], ["the cat", "the dog"]),
             "fra": side(["le chat", "la maison"], ["the cat", "a house"])}
    return Pool(pivot="eng", alpha=1.0, pairs=pairs)


@pytest.mark.parametrize("separate", [False, True])
def test_smoke_gradients(vocab, separate):
    cfg = TranslationRankingConfig(separate_encoders=separate)
    obj = TranslationRanking(cfg, vocab, 16)
    model = tiny_model(vocab.size, heads=obj.heads)
    batch = obj.make_batch(_pool(vocab), 8, torch.Generator().manual_seed(0))
    assert batch.src.lang_ids[0, 1].item() != vocab.lang_index("eng") and batch.num_items == 8
    loss, n, _ = obj(model, batch)
    (loss / n).backward()
    assert torch.isfinite(loss) and model.encoder.layers[0].ff_in.weight.grad.abs().sum() > 0
    if separate:
        assert model.head("tgt_encoder").layers[0].ff_in.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_two_process_gathered_negatives_match_one_process(tmp_path):
    """2 processes × 4 rows with gathered negatives == 1 process × 8 rows: same logged loss every step
    and the same weights after 6 steps (which include a progressive-stacking boundary)."""
    one = make_ranking_trainer(tmp_path / "single")
    rows = one.fit()
    out = tmp_path / "ddp" / "weights.safetensors"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "objectives" / "ranking_run.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_rows = [json.loads(line) for line in (out.parent / "metrics.jsonl").read_text().splitlines()]
    key = "train/translation_ranking/loss"
    assert [round(r[key], 4) for r in rows] == [round(r[key], 4) for r in ddp_rows]
    theirs = load_file(str(out))
    worst = max((v - theirs[k]).abs().max().item() for k, v in one.model.state_dict().items())
    assert worst <= 1e-5, worst


def test_chunked_embedding_equals_one_padded_pass(vocab):
    """Length-sorted, trimmed chunks give the same vectors and gradients as one padded pass."""
    from interlingua.data.pair_batches import encode_side
    from interlingua.models.encoder import pool
    from interlingua.objectives.translation_ranking import embed
    from tests.conftest import tiny_model

    model = tiny_model(vocab.size)
    rows = [(vocab.encode([t])[0], 0) for t in
            ["the cat", "a big red dog sleeps in the blue house", "der hund", "le chat", "the small dog runs"]]
    side = encode_side(rows, vocab, 32)
    whole = pool(model.encoder(**side.encoder_inputs()).last_hidden, side.attn_mask, "mean")
    chunked = embed(model.encoder, side, "mean", max_tokens=8)
    assert torch.allclose(whole, chunked, atol=1e-5)
    g1 = torch.autograd.grad(whole.sum(), model.encoder.layers[0].ff_in.weight)[0]
    g2 = torch.autograd.grad(chunked.sum(), model.encoder.layers[0].ff_in.weight)[0]
    assert torch.allclose(g1, g2, atol=1e-5)
