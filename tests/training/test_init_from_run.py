"""``model.init`` = a run folder: weights by name, its language table, and the decoder copied from the encoder."""
from __future__ import annotations

import pytest
import torch

from interlingua.config import load_config
from interlingua.errors import ConfigError
from interlingua.models.encoder import eval_mode
from interlingua.tokenization.vocab import save_vocab
from interlingua.training.run import build_model, build_objectives, prepare_vocab, write_run_info
from interlingua.training import distributed
from tests.training.tiny_run import make_trainer

TINY = ["model.d_model=16", "model.n_layers=2", "model.n_heads=2", "model.d_ff=32", "data.langs=deu,fra"]


def _stage1(tmp_path):
    trainer = make_trainer(tmp_path / "xlm", "train.steps=2")
    trainer.fit()
    vocab = trainer.objectives[0].vocab
    save_vocab(vocab.tokenizer, vocab.langs, tmp_path / "xlm" / "tokenizer")
    write_run_info(trainer.cfg, vocab, tmp_path / "xlm")
    return trainer


def _stage2(tmp_path, *overrides):
    cfg = load_config("xnlg", [*TINY, f"model.init={tmp_path / 'xlm'}", *overrides])
    vocab = prepare_vocab(cfg, {}, tmp_path / "stage2", distributed.init("cpu"))  # {}: data.langs decide
    return build_model(cfg, vocab, build_objectives(cfg, vocab)), vocab


def test_decoder_starts_as_a_copy_of_the_trained_encoder(tmp_path):
    first = _stage1(tmp_path).model
    model, vocab = _stage2(tmp_path)
    assert vocab.langs == ["deu", "eng", "fra"]  # the stage-1 run's language rows
    enc, dec = model.encoder, model.heads["decoder"]
    for k, v in first.encoder.state_dict().items():
        assert torch.equal(enc.state_dict()[k], v), k
    for mine, theirs in zip(dec.layers, first.encoder.layers):
        assert torch.equal(mine.ff_in.weight, theirs.ff_in.weight)
        assert torch.equal(mine.attn.qkv.bias, theirs.attn.qkv.bias)
    assert torch.equal(dec.lm.dense.weight, first.heads["lm"].dense.weight)
    assert all(p.requires_grad for p in enc.parameters())


def test_freeze_encoder_leaves_only_the_decoder_trainable(tmp_path):
    _stage1(tmp_path)
    model, _ = _stage2(tmp_path, "model.freeze_encoder=true")
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for n, p in model.heads["decoder"].named_parameters())


def test_frozen_encoder_stays_in_eval_mode_while_the_decoder_trains(tmp_path):
    """model.train() (as the trainer calls it each fit, and eval_mode on exit) leaves a frozen encoder without
    dropout: two passes agree. The decoder trains, its input embeddings with dropout as when nothing is frozen
    (shown with the decoder blocks' own dropout off: two passes then differ only through it)."""
    _stage1(tmp_path)
    model, vocab = _stage2(tmp_path, "model.freeze_encoder=true", "model.dropout=0.5")
    with eval_mode(model):
        pass
    model.train()
    assert not any(m.training for m in model.encoder.modules())
    dec = model.heads["decoder"]
    assert dec.training
    ids = torch.tensor([[0, 9, 10, 11, 2]])
    langs = torch.zeros_like(ids)
    runs = [model.encoder(input_ids=ids, attn_mask=torch.ones_like(ids, dtype=torch.bool), lang_ids=langs).last_hidden
            for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    for layer in dec.layers:
        layer.dropout.p, layer.attn.attn_dropout, layer.cross.attn_dropout = 0.0, 0.0, 0.0
    mask = torch.ones_like(ids, dtype=torch.bool)
    a, b = (dec.hidden(ids, langs, runs[0], mask) for _ in range(2))
    assert not torch.equal(a, b)


def test_a_language_the_init_run_lacks_is_an_error(tmp_path):
    _stage1(tmp_path)
    with pytest.raises(ConfigError, match="spa"):
        _stage2(tmp_path, "data.langs=deu,spa")
