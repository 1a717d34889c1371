"""Embedders: the char TF-IDF baseline, pooling, get_embedder dispatch, and HFEmbedder on a tiny BERT."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interlingua.errors import CheckpointError, ConfigError, InterlinguaError
from interlingua.evaluation.embedders import (
    CharTfidfEmbedder,
    Embedder,
    HFEmbedder,
    get_embedder,
    length_sorted_batches,
    pool,
)
from interlingua.evaluation.tasks import evaluate_pair

SENTENCES = [
    "the cat sat on the mat",
    "a dog",
    "the quick brown fox jumps over the lazy dog again and again",
    "cats and dogs",
    "the mat",
    "fox",
    "a lazy cat jumps",
]


def test_char_tfidf_identical_sides_retrieve_perfectly() -> None:
    embedder = get_embedder("baseline:char-tfidf")
    assert isinstance(embedder, Embedder)
    scores = evaluate_pair(embedder, SENTENCES, list(SENTENCES), lang="xxx")
    assert scores == {"xx2eng": 100.0, "eng2xx": 100.0, "mean": 100.0, "n": len(SENTENCES)}


def test_char_tfidf_needs_fit() -> None:
    with pytest.raises(InterlinguaError, match="fit"):
        CharTfidfEmbedder().encode(["a"], "eng")


def test_mean_pooling_skips_padding() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (B=1, T=3, D=2); token 3 is padding
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 2.0]]
    with pytest.raises(ConfigError):
        pool(hidden, mask, "max")


def test_length_sorted_batches_cover_every_index_once() -> None:
    batches = length_sorted_batches([3, 9, 1, 5, 9], batch_size=2)
    assert batches == [[1, 4], [3, 0], [2]]


def test_get_embedder_rejects_unknown_specs(tmp_path: Path) -> None:
    with pytest.raises(InterlinguaError, match="baseline:char-tfidf.*config.json"):
        get_embedder("bert-base-multilingual-cased")
    with pytest.raises(CheckpointError, match="interlingua.json"):
        get_embedder(str(tmp_path))  # exists, but is neither a run dir nor an HF folder
    with pytest.raises(ConfigError, match="pooling"):
        get_embedder("baseline:char-tfidf", pooling="max")


def _tiny_bert(folder: Path) -> Path:
    """A randomly initialised 2-layer BERT (hidden 16) with a whitespace WordLevel tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = sorted({w for s in SENTENCES for w in s.split()})
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_hf_embedder_is_independent_of_batching_and_order(tiny_bert: Path, pooling: str) -> None:
    one_batch = get_embedder(str(tiny_bert), pooling=pooling, batch_size=64)
    assert isinstance(one_batch, HFEmbedder)
    reference = one_batch.encode(SENTENCES, "eng")
    assert reference.shape == (len(SENTENCES), 16) and reference.dtype == np.float32
    small = HFEmbedder(tiny_bert, pooling=pooling, batch_size=2).encode(SENTENCES, "eng")
    np.testing.assert_allclose(small, reference, atol=1e-5)
    order = np.random.default_rng(0).permutation(len(SENTENCES))
    shuffled = HFEmbedder(tiny_bert, pooling=pooling, batch_size=3).encode([SENTENCES[i] for i in order], "eng")
    np.testing.assert_allclose(shuffled, reference[order], atol=1e-5)
    single = one_batch.encode([SENTENCES[2]], "eng")  # no padding at all
    np.testing.assert_allclose(single[0], reference[2], atol=1e-5)


def test_hf_embedder_pooling_changes_vectors(tiny_bert: Path) -> None:
    cls = HFEmbedder(tiny_bert, pooling="cls").encode(SENTENCES[:3], "eng")
    mean = HFEmbedder(tiny_bert, pooling="mean").encode(SENTENCES[:3], "eng")
    assert not np.allclose(cls, mean)


def test_run_dir_is_preferred_over_hf_folder(tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder with interlingua.json goes to the run loader even if it also holds config.json."""
    from interlingua import encoding

    calls = []
    monkeypatch.setattr(encoding, "load_encoder", lambda path, quantize: calls.append((path, quantize)) or
                        encoding.SentenceEncoder("run", None, None, None, 0, 4, 8))
    (tmp_path / "interlingua.json").write_text(json.dumps({}))
    (tmp_path / "config.json").write_text(json.dumps({}))
    bound = get_embedder(str(tmp_path), pooling="cls", batch_size=8)
    assert calls == [(tmp_path, False)] and bound.options == {"batch_size": 8, "pooling": "cls"}
