from __future__ import annotations

import math

import torch

from interlingua.data.collate import Segment, pack
from interlingua.data.pool import Pool
from interlingua.objectives.tlm import TLM, TLMConfig
from tests.conftest import tiny_model


def test_pair_layout_resets_positions_and_keeps_languages(vocab):
    """<s> a b </s> c </s>: positions 0 1 2 3 | 0 1, languages 1 1 1 1 | 2 2, segments 0 0 0 0 | 1 1."""
    p = pack([[Segment([10, 11], 1), Segment([12], 2)]], vocab, 16, reset_positions=True)
    assert p.input_ids[0].tolist() == [vocab.cls_id, 10, 11, vocab.sep_id, 12, vocab.sep_id]
    assert p.position_ids[0].tolist() == [0, 1, 2, 3, 0, 1]
    assert p.lang_ids[0].tolist() == [1, 1, 1, 1, 2, 2]
    assert p.segment_ids[0].tolist() == [0, 0, 0, 0, 1, 1]
    assert p.maskable[0].tolist() == [False, True, True, False, True, False]


def test_truncation_shares_the_budget(vocab):
    p = pack([[Segment(list(range(8, 28)), 0), Segment([9, 9], 1)]], vocab, 10)
    assert p.input_ids.shape[1] == 10 and (p.input_ids[0] == 9).sum() >= 2


def _pool(vocab):
    return Pool(pivot="eng", alpha=0.7, pairs={
        "deu": [(vocab.encode(["the dog"])[0], vocab.encode(["der hund"])[0]),
                (vocab.encode(["the red house"])[0], vocab.encode(["das rot haus"])[0])],
        "fra": [(vocab.encode(["the cat"])[0], vocab.encode(["le chat"])[0])]})


def test_both_sides_masked_and_languages_differ(vocab):
    batch = TLM(TLMConfig(mask_prob=0.5), vocab, 32).make_batch(_pool(vocab), 64, torch.Generator().manual_seed(0))
    second = batch.segment_ids == 1
    labelled = batch.labels != -100
    assert (labelled & second).any() and (labelled & ~second & batch.attn_mask).any()
    # each row: two different language ids, one of them the pivot's
    for row in range(8):
        langs = set(batch.lang_ids[row][batch.attn_mask[row]].tolist())
        assert len(langs) == 2 and vocab.lang_index("eng") in langs


def test_zero_head_gives_n_log_v(vocab):
    model = tiny_model(vocab.size, lang_embeddings=True, n_langs=3)
    torch.nn.init.zeros_(model.head("lm").norm.weight)
    tlm = TLM(TLMConfig(), vocab, 32)
    batch = tlm.make_batch(_pool(vocab), 16, torch.Generator().manual_seed(1))
    loss, n, _ = tlm(model, batch)
    assert n > 0 and abs(loss.item() - n * math.log(vocab.size)) < 1e-4


def test_translation_context_is_used(vocab):
    """Changing the unmasked translation changes the prediction at a masked position (cross attention)."""
    model = tiny_model(vocab.size, lang_embeddings=True, n_langs=3).eval()
    tlm = TLM(TLMConfig(), vocab, 32)
    batch = tlm.make_batch(_pool(vocab), 4, torch.Generator().manual_seed(2))
    h1 = model.encoder(**batch.encoder_inputs()).last_hidden
    other = batch.input_ids.clone()
    other[batch.segment_ids == 1] = 20
    batch.input_ids = torch.where(batch.segment_ids == 1, other, batch.input_ids)
    h2 = model.encoder(**batch.encoder_inputs()).last_hidden
    first = (batch.segment_ids == 0) & batch.attn_mask
    assert (h1[first] - h2[first]).abs().max() > 1e-4
