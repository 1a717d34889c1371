"""The pieces that make beam search cheaper: block-wise ranking, the time-major cache, grouped cross-attention.
Each must give what the plain computation gives (the Hugging Face equality tests are in test_seq2seq.py)."""
from __future__ import annotations

import pytest
import torch

from interlingua.data.pair_batches import encode_side
from interlingua.models import generate as G
from interlingua.models.seq2seq import TimeMajor, decoder_of, encode_source
from tests.models.test_seq2seq import _model, _src


@pytest.mark.parametrize("V,block", [(1024, 64), (1000, 64), (1037, 64), (1037, 10), (40, 64)])
def test_block_ranking_equals_topk_over_every_continuation(monkeypatch, V, block):
    """The 2k best (beam, token) pairs and their sums equal topk over the (A, k·V) sums: V a multiple of the
    block, with a shorter last block, and V too small for blocks (plain topk). The beams' scores differ
    widely, so the winners come from several beams; in sentence 0 all 2k come from beam 0, and in sentence 1
    from the last tokens of the vocabulary (the shorter last block, when there is one)."""
    monkeypatch.setattr(G, "BLOCK", block)
    g = torch.Generator().manual_seed(V + block)
    A, k = 6, 4
    logits = torch.randn(A * k, V, generator=g) * 4
    logits[k:2 * k, -2 * k:] += 100.0  # sentence 1: the last 2k tokens of every beam win
    logp = torch.log_softmax(logits, -1)
    scores = torch.randn(A, k, generator=g) * 3
    scores[0] = torch.tensor([0.0, -50.0, -60.0, -70.0])  # sentence 0: every winner from beam 0
    top, beam, token = G._top_continuations(logp, scores, 2 * k)
    ref_top, idx = (logp.view(A, k, V) + scores[..., None]).view(A, k * V).topk(2 * k, dim=1)
    assert torch.equal(top, ref_top)
    assert torch.equal(beam, idx // V) and torch.equal(token, idx % V)
    assert (beam[0] == 0).all() and len(set(beam[2:].flatten().tolist())) > 1
    assert (token[1] >= V - 2 * k).all()


def test_time_major_cache_equals_concatenation_and_index_select():
    """Appending steps, reordering rows (a permutation, fewer rows, more rows) and growing the buffer give exactly
    what torch.cat along time and index_select along rows give; a step with other rows is refused."""
    g = torch.Generator().manual_seed(0)
    cache, ref = TimeMajor(), None
    plan = [("add", 6, 3), ("add", 6, 1), ("reorder", torch.tensor([2, 0, 1, 5, 4, 3])), ("add", 6, 1),
            ("reorder", torch.tensor([4, 4, 1])), ("add", 3, 1), ("add", 3, 1), ("add", 3, 1),
            ("reorder", torch.tensor([0, 1, 2, 2, 1, 0, 0, 1, 2])), ("add", 9, 1)]
    for op in plan:
        if op[0] == "add":
            x = torch.randn(op[1], 2, op[2], 5, generator=g)  # (B, H, t_new, Dh)
            ref = x if ref is None else torch.cat([ref, x], 2)
            assert torch.equal(cache.append(x), ref)
        else:
            cache.reorder(op[1])
            ref = ref.index_select(0, op[1])
    assert cache.t == 9
    with pytest.raises(ValueError, match="reorder it first"):
        cache.append(torch.randn(6, 2, 1, 5))


def test_beams_attend_to_one_copy_of_their_source(vocab):
    """k decoder rows per sentence over the (B, S, D) source equal the same rows over the source repeated k
    times (the layout beam search used to build)."""
    model = _model(vocab)
    src, dec = _src(vocab), decoder_of(model)
    context, mask = encode_source(model, src), src.attn_mask.bool()
    tokens = torch.randint(5, vocab.size, (3 * 4, 5))  # (B·k, t), the k rows of a sentence together
    langs = torch.ones_like(tokens)
    grouped = dec(tokens, langs, context, mask)
    repeated = dec(tokens, langs, context.repeat_interleave(4, 0), mask.repeat_interleave(4, 0))
    torch.testing.assert_close(grouped, repeated, atol=1e-5, rtol=1e-5)


def test_a_batch_whose_sentences_finish_at_different_steps_equals_each_sentence_alone(vocab, monkeypatch):
    """Beam search drops a sentence once it is done, with its beams' rows and its source: the outputs of the
    batch equal those of each sentence searched alone (which never drops one). Checked to take that path."""
    texts = ["der hund", "the cat runs", "la maison rouge chat chien", "a big red house sleeps", "das haus", "le chat"]
    src = encode_side([(vocab.encode([t])[0], i % 3) for i, t in enumerate(texts)], vocab, 32)
    model, special = _model(vocab), G.Special(vocab.cls_id, vocab.sep_id, vocab.pad_id)
    cfg = G.SearchConfig(beam=3)  # budgets ⌊1.3·|x|⌋ + 5 from 10 to 14: the first and the last two end first
    drops, keep = [], G.Stepper.keep

    def counting_keep(self, rows, sentences=None):
        if sentences is not None and len(sentences) < len(self.context):
            drops.append(sentences.tolist())
        keep(self, rows, sentences)

    monkeypatch.setattr(G.Stepper, "keep", counting_keep)
    batched = G.generate(model, src, 1, special, cfg)
    assert drops and drops[0][0] != 0  # sentence 0 dropped while later ones go on
    alone = [G.generate(model, src.select(torch.tensor([i])), 1, special, cfg)[0] for i in range(len(src))]
    assert batched == alone and len({len(r) for r in batched}) > 1
