from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from interlingua.data.pair_batches import PairBatch
from interlingua.data.pool import Pool
from interlingua.data.tasks import answer_sentence, xquad_qa
from interlingua.errors import CorpusError
from interlingua.models.encoder import EncoderOutput
from interlingua.objectives.qa_ranking import QARanking, QARankingConfig
from tests.conftest import tiny_model

QA = {"eng": [("the cat runs", "a big red dog sleeps"), ("the dog sleeps", "a big red dog sleeps"),
              ("the house", "das blau haus")]}


def _pool(vocab) -> Pool:
    items = [tuple(vocab.encode(list(pair))) for pair in QA["eng"]]
    return Pool(pivot="eng", alpha=1.0, tasks={"xquad": {"eng": items}})


class _Stub(nn.Module):
    """An encoder whose hidden states are given vectors (repeated over T, so mean pooling returns them)
    and a ``qa`` head whose towers are the identity."""

    def __init__(self, vectors: dict[tuple[int, ...], torch.Tensor]) -> None:
        super().__init__()
        self.vectors = vectors  # a row's real token ids -> its vector (rows may come in any order or chunking)
        self.tower = nn.Identity()

    def encoder(self, input_ids, attn_mask, **_) -> EncoderOutput:
        rows = [self.vectors[tuple(ids[m].tolist())] for ids, m in zip(input_ids, attn_mask)]
        return EncoderOutput(torch.stack(rows)[:, None].expand(-1, input_ids.shape[1], -1))

    def head(self, name):
        return type("QAHead", (), {"question": self.tower, "answer": self.tower})


def test_hand_value_3x3_with_shared_answer(vocab):
    """Rows 0 and 1 ask about the same answer sentence, so each is masked from the other's candidates.
    q = (1,0), (0,1), (0.6,0.8); a = (1,0), (1,0), (0,1); m = 0, s = 20, question → answer only.
    row 0: logits (20, -, 0): ln(1 + e^{-20}); row 1: (-, 0, 20): ln(1 + e^{20});
    row 2: (12, 12, 16): ln(1 + 2e^{-4}) = 0.035976. Sum 20.035976; correct: rows 0 and 2."""
    obj = QARanking(QARankingConfig(), vocab, 16)
    rows = [[(ids, 0) for ids in vocab.encode(side)] for side in zip(*QA["eng"])]
    batch = PairBatch.build(rows[0], rows[1], vocab, 16)
    assert batch.tgt_key[0] == batch.tgt_key[1] != batch.tgt_key[2]
    key = lambda side, b: tuple(side.input_ids[b][side.attn_mask[b]].tolist())  # noqa: E731
    q, a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    stub = _Stub({**{key(batch.src, b): q[b] for b in range(3)}, **{key(batch.tgt, b): a[b] for b in range(3)}})
    loss, n, m = obj(stub, batch)
    want = math.log1p(math.exp(-20)) + math.log1p(math.exp(20)) + math.log1p(2 * math.exp(-4))
    assert n == 3 and abs(loss.item() - want) < 1e-4 and m["train/qa_ranking/correct"] == 2


def test_answer_sentence_covers_the_answer_span():
    """A naive splitter cuts "U.S. Army" after "U.S."; an answer spanning the cut gets both pieces."""
    ctx = "The U.S. Army won. It was big! 他们赢了。然后走了"
    assert answer_sentence(ctx, 4, 13) == "The U.S. Army won."
    assert answer_sentence(ctx, 22, 25) == "It was big!"
    assert answer_sentence(ctx, ctx.index("然"), len(ctx)) == "然后走了"


def test_xquad_training_articles_only():
    try:
        train, held_out = xquad_qa("eng"), xquad_qa("eng", slice(36, None))
    except CorpusError:
        pytest.skip("XQuAD is not in the corpora folder")
    assert len(train) == 925 and len(held_out) == 265
    assert not {q for q, _ in train} & {q for q, _ in held_out}


def test_smoke_gradients_reach_both_towers(vocab):
    obj = QARanking(QARankingConfig(), vocab, 16)
    model = tiny_model(vocab.size, heads=obj.heads)
    loss, n, _ = obj(model, obj.make_batch(_pool(vocab), 6, torch.Generator().manual_seed(1)))
    (loss / n).backward()
    head = model.head("qa")
    assert torch.isfinite(loss) and n == 6
    assert head.question[0].weight.grad.abs().sum() > 0 and head.answer[0].weight.grad.abs().sum() > 0
    assert model.encoder.layers[0].ff_in.weight.grad.abs().sum() > 0
