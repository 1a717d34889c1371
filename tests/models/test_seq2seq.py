"""The decoder: cache == full forward, causality, XNLG initialisation, and Hugging Face export giving our tokens."""
from __future__ import annotations

import pytest
import torch

from interlingua.data.pair_batches import encode_side
from interlingua.models import generate as generate_module
from interlingua.models.generate import SearchConfig, Special, generate
from interlingua.models.hf_keys import hf_token_type_ids
from interlingua.models.seq2seq import KVCache, decoder_of, default_max_len, encode_source
from tests.conftest import tiny_model

LANG = dict(lang_embeddings=True, n_langs=3)


def _model(vocab, eos_bias: float = 2.0, **kw):
    """A random decoder whose outputs vary with the step and the source and end at different lengths: with
    BERT's N(0, 0.02) weights every step would give the same token. Beam 4 differs from greedy here."""
    model = tiny_model(vocab.size, heads=("decoder",), **{**LANG, **kw}).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        emb, dec = model.encoder.embeddings, decoder_of(model)
        for table in (emb.word, emb.position, emb.lang):
            table.weight.normal_()
        dec.lm.dense.weight.normal_()
        dec.lm.bias.normal_()
        dec.lm.bias[vocab.sep_id] += eos_bias
        for layer in dec.layers:
            layer.attn.qkv.weight.normal_(std=0.3)
            layer.ff_out.weight.normal_(std=0.3)
    return model


def _src(vocab):
    rows = [(vocab.encode(["the cat runs"])[0], 1), (vocab.encode(["der hund"])[0], 0),
            (vocab.encode(["la maison rouge chat chien"])[0], 2)]
    return encode_side(rows, vocab, 32)


def test_one_token_at_a_time_with_the_cache_equals_the_whole_prefix(vocab):
    model = _model(vocab)
    src, dec = _src(vocab), decoder_of(model)
    context, mask = encode_source(model, src), src.attn_mask
    tokens = torch.randint(5, vocab.size, (3, 6))
    langs = torch.full((3, 6), 1)
    full = dec(tokens, langs, context, mask)  # (B, 6, V)
    cache = KVCache(len(dec.layers))
    steps = [dec(tokens[:, t:t + 1], langs[:, t:t + 1], context, mask, cache) for t in range(6)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_a_later_token_does_not_change_earlier_logits(vocab):
    model = _model(vocab)
    src, dec = _src(vocab), decoder_of(model)
    context = encode_source(model, src)
    a = torch.randint(5, vocab.size, (3, 5))
    b = a.clone()
    b[:, 3] = (b[:, 3] + 1 - 5) % (vocab.size - 5) + 5
    la, lb = (dec(x, torch.ones_like(x), context, src.attn_mask) for x in (a, b))
    assert torch.equal(la[:, :3], lb[:, :3])
    assert not torch.allclose(la[:, 3], lb[:, 3])


def test_source_padding_does_not_change_the_output(vocab):
    model = _model(vocab)
    src = _src(vocab)
    short = encode_side([(vocab.encode(["der hund"])[0], 0)], vocab, 32)
    dec, tokens = decoder_of(model), torch.tensor([[0, 9, 10]])
    alone = dec(tokens, torch.ones_like(tokens), encode_source(model, short), short.attn_mask)
    padded = dec(tokens.expand(3, 3), torch.ones(3, 3, dtype=torch.long), encode_source(model, src), src.attn_mask)
    torch.testing.assert_close(padded[1:2], alone, atol=1e-5, rtol=1e-5)


def test_init_from_encoder_copies_self_attention_and_ffn_not_cross_attention(vocab):
    model = tiny_model(vocab.size, heads=("decoder", "lm"), **LANG)
    dec = decoder_of(model)
    dec.init_from(model, {f"heads.lm.{k}": v for k, v in model.heads["lm"].state_dict().items()})
    for mine, theirs in zip(dec.layers, model.encoder.layers):
        assert torch.equal(mine.attn.qkv.weight, theirs.attn.qkv.weight)
        assert torch.equal(mine.ff_out.weight, theirs.ff_out.weight)
        assert mine.attn.qkv.weight.data_ptr() != theirs.attn.qkv.weight.data_ptr()  # copied, not shared
    assert torch.equal(dec.lm.dense.weight, model.heads["lm"].dense.weight)
    assert dec.lm.word_embeddings[0] is model.encoder.embeddings.word  # output projection tied


def test_search_respects_the_budget(vocab):
    """Every output fits XLM's budget ⌊1.3·|x|⌋ + 5 and never contains </s>; outputs end at different
    lengths, and on this model beam 4 differs from greedy (so the equality tests below compare real searches)."""
    model = _model(vocab)
    special, src = Special(vocab.cls_id, vocab.sep_id, vocab.pad_id), _src(vocab)
    greedy = generate(model, src, 1, special, SearchConfig(beam=1))
    beam = generate(model, src, 1, special, SearchConfig(beam=4))
    limits = [int(x) for x in (src.lengths().float() * 1.3 + 5).floor()]
    for out in (greedy, beam):
        assert all(len(row) <= n and vocab.sep_id not in row for row, n in zip(out, limits))
    assert greedy != beam and len({len(r) for r in greedy}) > 1


def test_budget_is_capped_by_the_decoder_positions():
    """⌊1.3·10⌋ + 5 = 18 fits 64 positions; ⌊1.3·60⌋ + 5 = 83 does not and becomes 64 (positions 0 … 63)."""
    assert default_max_len(torch.tensor([10, 60]), max_positions=64).tolist() == [18, 64]
    assert default_max_len(torch.tensor([60])).tolist() == [83]


@pytest.mark.parametrize("beam,max_len", [(1, None), (2, None), (1, 100)])
def test_a_source_near_max_positions_generates_within_the_positions(vocab, beam, max_len):
    """A 62-token source on a 64-position model that never writes </s>: the budget (83, or max_len=100) would
    read position 64 and fail; capped, every output has exactly 64 tokens."""
    model = _model(vocab, eos_bias=-1.0e4)
    src = encode_side([(vocab.encode(["the cat runs " * 20])[0], 1)], vocab, 64)
    assert int(src.lengths()[0]) == 62
    out = generate(model, src, 1, Special(vocab.cls_id, vocab.sep_id, vocab.pad_id),
                   SearchConfig(beam=beam, max_len=max_len))
    assert [len(r) for r in out] == [64]


def _hf_generate(model, vocab, tmp_path, tgt: int, **kw):
    pytest.importorskip("transformers")
    from transformers import EncoderDecoderModel

    from interlingua.models.hf_seq2seq import export_seq2seq

    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    vocab.tokenizer.save(str(tok_dir / "tokenizer.json"))
    out = export_seq2seq(model, vocab, tok_dir, tmp_path / "hf", vocab.langs[tgt])
    hf = EncoderDecoderModel.from_pretrained(out).eval()
    src = _src(vocab)
    types = hf_token_type_ids(model.cfg, src.lang_ids, None)
    with torch.no_grad():
        seqs = hf.generate(input_ids=src.input_ids, attention_mask=src.attn_mask.long(), token_type_ids=types,
                           do_sample=False, **kw)
    rows = seqs[:, 1:].tolist()
    return src, [r[: r.index(vocab.sep_id)] if vocab.sep_id in r else [t for t in r if t != vocab.pad_id] for r in rows]


@pytest.mark.parametrize("beam,early,penalty", [(1, False, 1.0), (4, False, 1.0), (4, True, 1.0), (3, False, 0.6)])
def test_exported_model_generates_our_tokens(vocab, tmp_path, beam, early, penalty, monkeypatch):
    monkeypatch.setattr(generate_module, "BLOCK", 3)  # blocks of the 32-token vocabulary, a shorter last one
    model = _model(vocab)
    special = Special(vocab.cls_id, vocab.sep_id, vocab.pad_id)
    src, theirs = _hf_generate(model, vocab, tmp_path, 2, num_beams=beam, max_length=9, length_penalty=penalty,
                               early_stopping=early)
    ours = generate(model, src, 2, special, SearchConfig(beam=beam, max_len=8, length_penalty=penalty,
                                                         early_stopping=early))
    assert ours == theirs
    assert any(0 < len(r) < 8 for r in ours)  # hypotheses that ended with </s> before the budget
