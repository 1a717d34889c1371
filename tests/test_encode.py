"""``interlingua.encode``: batching helpers, order and batch invariance, a run's numbers by hand, int8."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

import interlingua
from interlingua.config import ModelConfig, load_config
from interlingua.encoding import (
    Int8Linear,
    SentenceEncoder,
    load_encoder,
    pad_batch,
    quantize_int8,
    token_budget_batches,
)
from interlingua.errors import CheckpointError, ConfigError
from interlingua.models.heads import PretrainModel
from interlingua.models.pretrained import load_run
from interlingua.tokenization.vocab import SPECIALS, lang_tag, load_vocab, save_vocab
from interlingua.training.checkpoint import save_model
from interlingua.training.run import write_run_info

LANGS = ["deu", "eng", "fra"]
WORDS = ("the a cat dog house red blue big small runs sleeps der die das katze hund haus rot blau "
         "le la chat chien maison").split()
SENTENCES = [
    "the cat sleeps",
    "der hund",
    "a big red house runs the small blue dog",
    "le chat",
    "das haus rot blau big",
    "dog",
    "the the the the the the the the the the the the the the the the the the the the the the",
]


def make_run(run_dir: Path, *, lang_embeddings: bool = False, pooling: str = "mean", seed: int = 0,
             max_positions: int = 32) -> Path:
    """A run folder as training writes it: word-level tokenizer (no post-processor), tiny jittered model."""
    table = {tok: i for i, tok in enumerate(SPECIALS + [lang_tag(l) for l in LANGS] + WORDS)}
    tok = Tokenizer(models.WordLevel(table, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    save_vocab(tok, LANGS, run_dir / "tokenizer")
    cfg = load_config(None, [f"eval.pooling={pooling}"])
    cfg.model = ModelConfig(
        vocab_size=len(table), d_model=32, n_layers=2, n_heads=4, d_ff=64, max_positions=max_positions,
        lang_embeddings=lang_embeddings, n_langs=len(LANGS) if lang_embeddings else 0, dropout=0.0, attn_dropout=0.0,
    )
    write_run_info(cfg, load_vocab(run_dir / "tokenizer"), run_dir)
    torch.manual_seed(seed)
    model = PretrainModel(cfg.model, ("lm",))
    with torch.no_grad():  # off the init (LayerNorm 1/0, zero biases) so that every weight matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    save_model(model, run_dir / "model.safetensors")
    return run_dir


def reference_vectors(run_dir: Path, sentences: list[str], lang: str, pooling: str = "mean") -> np.ndarray:
    """Unit vectors computed by hand: each sentence alone (no padding, so nothing to mask) as
    ``<s> ids </s>`` cut to the position table, the language's row at every position when the model has
    language embeddings, the run encoder's last hidden states, then their plain mean or the first row."""
    model, vocab, cfg = load_run(run_dir)
    rows = []
    with torch.no_grad():
        for ids in vocab.encode(sentences):
            x = torch.tensor([[vocab.cls_id, *ids[: cfg.model.max_positions - 2], vocab.sep_id]])  # (1, T)
            lang_ids = torch.full_like(x, vocab.langs.index(lang)) if cfg.model.lang_embeddings else None
            hidden = model.encoder(x, lang_ids=lang_ids).last_hidden[0]  # (T, D)
            rows.append(hidden[0] if pooling == "cls" else hidden.mean(0))
    v = torch.stack(rows).numpy()  # (N, D)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("encode") / "run")


def test_token_budget_batches_cover_each_index_once_longest_first() -> None:
    """lengths 40, 10, 10, 9, 8, 8, 7, 3 with batch_size 4: median 8.5 gives a budget of 34 tokens, so the
    40-token sentence goes alone (one row always fits), 10+10+9 pad to 30 (a 4th row would be 40 > 34),
    then 8, 8, 7, 3 pad to 32."""
    lengths = [8, 40, 3, 10, 9, 7, 10, 8]
    batches = token_budget_batches(lengths, batch_size=4)
    assert [[lengths[i] for i in b] for b in batches] == [[40], [10, 10, 9], [8, 8, 7, 3]]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert token_budget_batches([], 4) == []
    assert [len(b) for b in token_budget_batches([5] * 10, 4)] == [4, 4, 2]


def test_pad_batch_pads_right_to_the_longest() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=1)
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]


def test_encode_matches_a_hand_computed_reference_in_the_callers_order(run_dir: Path) -> None:
    """Same numbers as :func:`reference_vectors` (one sentence at a time), whatever the batching."""
    ref = reference_vectors(run_dir, SENTENCES, "deu")
    for batch_size in (1, 3, 64):
        out = interlingua.encode(run_dir, SENTENCES, batch_size=batch_size, quantize=False)
        assert out.dtype == np.float32 and out.shape == (len(SENTENCES), 32)
        np.testing.assert_allclose(out, ref, atol=1e-5)
    rev = interlingua.encode(run_dir, SENTENCES[::-1], quantize=False)
    np.testing.assert_allclose(rev[::-1], ref, atol=1e-5)


def test_normalize_and_pooling_options(run_dir: Path) -> None:
    raw = interlingua.encode(run_dir, SENTENCES, normalize=False, quantize=False)
    unit = interlingua.encode(run_dir, SENTENCES, quantize=False)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
    cls = interlingua.encode(run_dir, SENTENCES, pooling="cls", quantize=False)
    np.testing.assert_allclose(cls, reference_vectors(run_dir, SENTENCES, "deu", pooling="cls"), atol=1e-5)
    with pytest.raises(ConfigError, match="pooling"):
        interlingua.encode(run_dir, SENTENCES, pooling="max")


def test_loaded_encoders_are_cached_and_accepted(run_dir: Path) -> None:
    enc = load_encoder(run_dir, quantize=False)
    assert load_encoder(run_dir, quantize=False) is enc
    assert isinstance(enc, SentenceEncoder) and not enc.quantized
    exact = interlingua.encode(run_dir, SENTENCES, quantize=False)
    np.testing.assert_allclose(interlingua.encode(enc, SENTENCES), exact)
    with pytest.raises(ConfigError, match="quantize"):
        interlingua.encode(enc, SENTENCES, quantize=True)
    assert interlingua.encode(enc, []).shape == (0, 32)


def test_language_embeddings_need_a_known_lang(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", lang_embeddings=True)
    deu = interlingua.encode(run, SENTENCES, lang="deu", quantize=False)
    fra = interlingua.encode(run, SENTENCES, lang="fra", quantize=False)
    assert not np.allclose(deu, fra)
    np.testing.assert_allclose(fra, reference_vectors(run, SENTENCES, "fra"), atol=1e-5)
    with pytest.raises(ConfigError, match="deu, eng, fra"):
        interlingua.encode(run, SENTENCES, quantize=False)


def test_unknown_model_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run folder .* Hugging Face folder .* baseline:me5-small"):
        interlingua.encode(tmp_path / "missing", SENTENCES)
    with pytest.raises(CheckpointError):
        interlingua.encode(tmp_path, SENTENCES)  # exists, but holds no model


def test_int8_linear_is_close_to_fp32() -> None:
    """Per-row int8 weights and per-call int8 activations: relative error well under 2 %."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96)
    x = torch.randn(2, 5, 64)  # (B, T, in)
    for reduce_range in (False, True):
        y = Int8Linear(lin, reduce_range)(x)  # (B, T, out)
        assert y.shape == (2, 5, 96)
        assert ((y - lin(x)).norm() / lin(x).norm()).item() < 0.02


def test_quantize_keeps_down_projections_fp32(run_dir: Path) -> None:
    enc = load_encoder(run_dir, quantize=True, device="cpu")
    layer = enc.module.layers[0]
    assert isinstance(layer.attn.qkv, Int8Linear) and isinstance(layer.ff_in, Int8Linear)
    assert type(layer.ff_out) is torch.nn.Linear  # 64 -> 32: stays fp32
    assert type(quantize_int8(torch.nn.Sequential(torch.nn.Linear(8, 4)), down_projections=True)[0]) is Int8Linear
    q = interlingua.encode(enc, SENTENCES)
    exact = interlingua.encode(run_dir, SENTENCES, quantize=False)
    assert (q * exact).sum(1).min() > 0.99


def test_import_interlingua_stays_light() -> None:
    """``interlingua.encode`` is a function, found lazily, even once ``interlingua.encoding`` is imported."""
    code = (
        "import sys, interlingua\n"
        "assert 'torch' not in sys.modules\n"
        "import interlingua.encoding\n"
        "assert callable(interlingua.encode) and interlingua.encode.__module__ == 'interlingua.encoding'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_eval_embedder_is_the_encode_path_with_the_models_length(tmp_path: Path) -> None:
    """Issue 6, defect 8: ``eval`` cut at 128 tokens whatever the model's max_positions (IndexError at 32 here),
    and scored a language the model has no embedding for. Now it is interlingua.encode's loader in fp32."""
    from interlingua.evaluation.embedders import get_embedder

    long = ["the cat " * 40]  # 80 words: longer than the 32 positions
    run = make_run(tmp_path / "run", lang_embeddings=True)
    got = get_embedder(str(run)).encode(SENTENCES + long, "deu")
    np.testing.assert_array_equal(got, interlingua.encode(run, SENTENCES + long, lang="deu", quantize=False))
    with pytest.raises(ConfigError, match="deu, eng, fra"):
        get_embedder(str(run)).encode(SENTENCES, "spa")
