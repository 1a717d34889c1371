"""Batch contracts: trim along every sequence dimension, and word indices from the collator."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from interlingua.data.batches import TokenBatch, trim_index
from interlingua.data.collate import Segment, pack
from interlingua.tokenization.vocab import SPECIALS, Vocab


@dataclass
class PairwiseBatch(TokenBatch):
    pair_mask: torch.Tensor | None = None  # (B, T, T)
    head_mask: torch.Tensor | None = None  # (B, H, T, T)


def test_trim_cuts_pairwise_and_per_head_masks():
    """T = 5 with rows of 2 and 3 real tokens -> every sequence dim becomes 3; H = 5 heads stay 5."""
    attn = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)
    ids = torch.arange(10).view(2, 5)
    batch = PairwiseBatch(ids, attn, ids.clone(), pair_mask=torch.ones(2, 5, 5, dtype=torch.bool),
                          head_mask=torch.ones(2, 5, 5, 5, dtype=torch.bool))
    cut = batch.trim()
    assert cut.input_ids.tolist() == [[0, 1, 2], [5, 6, 7]]
    assert cut.pair_mask.shape == (2, 3, 3) and cut.head_mask.shape == (2, 5, 3, 3)
    assert trim_index(torch.Size([2]), 5, 3) == (slice(None),)


def _metaspace_vocab() -> Vocab:
    pieces = SPECIALS + ["▁the", "▁cat", "s", "▁run", "ning", "▁"]
    tok = Tokenizer(models.WordLevel({p: i for i, p in enumerate(pieces)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return Vocab(tok, [])


def test_word_ids_follow_metaspace_word_starts():
    """▁the ▁cat s | ▁run ning: words 0 1 1 in segment A, 0 0 in segment B; -1 on <s>, </s> and padding."""
    vocab = _metaspace_vocab()
    the, cat, s, run, ning = 5, 6, 7, 8, 9
    p = pack([[Segment([the, cat, s]), Segment([run, ning])], [Segment([cat])]], vocab, max_len=16)
    assert p.word_ids.tolist() == [[-1, 0, 1, 1, -1, 0, 0, -1], [-1, 0, -1, -1, -1, -1, -1, -1]]
    assert p.input_ids[0].tolist() == [0, the, cat, s, 2, run, ning, 2]


def test_word_level_vocab_makes_every_token_a_word(vocab):
    p = pack([[Segment([8, 9, 10])]], vocab, max_len=8)
    assert p.word_ids.tolist() == [[-1, 0, 1, 2, -1]]


def test_text_prefix_ids_and_stripping(vocab):
    """A prefix "the " adds one token before every sentence; strip_prefix removes it only where it is."""
    assert vocab.prefix_ids == []
    vocab.prefix = "the "
    (with_prefix,) = vocab.encode(["a cat"])
    assert vocab.prefix_ids == with_prefix[:1] and len(with_prefix) == 3
    assert vocab.strip_prefix(with_prefix) == with_prefix[1:]
    assert vocab.strip_prefix(with_prefix[1:]) == with_prefix[1:]


def test_segments_can_share_a_segment_id(vocab):
    """Three sentences on two sides: segment ids follow ``Segment.segment``, not the sentence index."""
    from interlingua.data.collate import Segment, pack

    p = pack([[Segment([10], 0, segment=0), Segment([11], 1, segment=1), Segment([12], 0, segment=0)]], vocab, 16)
    assert p.segment_ids[0].tolist() == [0, 0, 0, 1, 1, 0, 0]
    by_index = pack([[Segment([10]), Segment([11]), Segment([12])]], vocab, 16)
    assert by_index.segment_ids[0].tolist() == [0, 0, 0, 1, 1, 2, 2]
