"""Embedders: the char TF-IDF baseline, pooling, get_embedder dispatch, and model folders through
``interlingua.encoding`` (a tiny BERT, a tiny run) checked against hand-computed vectors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import interlingua
from interlingua.encoding import BoundEncoder
from interlingua.errors import CheckpointError, ConfigError, InterlinguaError
from interlingua.evaluation.embedders import CharTfidfEmbedder, Embedder, get_embedder
from interlingua.evaluation.tasks import evaluate_pair
from interlingua.models.encoder import pool
from tests.test_encode import SENTENCES as RUN_SENTENCES
from tests.test_encode import make_run, reference_vectors

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
    with pytest.raises(ValueError, match="max"):
        pool(hidden, mask, "max")


def test_get_embedder_rejects_unknown_specs(tmp_path: Path) -> None:
    with pytest.raises(InterlinguaError, match="baseline:char-tfidf.*config.json"):
        get_embedder("bert-base-multilingual-cased")
    with pytest.raises(CheckpointError, match="interlingua.json"):
        get_embedder(str(tmp_path))  # exists, but is neither a run dir nor an HF folder
    with pytest.raises(ConfigError, match="pooling"):
        get_embedder("baseline:char-tfidf", pooling="max")


def _tiny_bert(folder: Path, max_positions: int = 64) -> Path:
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
        intermediate_size=32, max_position_embeddings=max_positions,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def hf_reference(folder: Path, sentences: list[str], pooling: str = "mean") -> np.ndarray:
    """Unit vectors by hand: each sentence alone through ``transformers``' BertModel (not interlingua's
    encoder), cut to the position table, then the plain mean of its last hidden states or the first row."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    rows = []
    with torch.no_grad():
        for s in sentences:
            ids = tokenizer(s, truncation=True, max_length=model.config.max_position_embeddings,
                            return_tensors="pt")["input_ids"]  # (1, T)
            hidden = model(input_ids=ids).last_hidden_state[0]  # (T, D)
            rows.append(hidden[0] if pooling == "cls" else hidden.mean(0))
    v = torch.stack(rows).numpy()  # (N, D)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_hf_folder_vectors_by_hand_whatever_the_batching(tiny_bert: Path, pooling: str) -> None:
    reference = hf_reference(tiny_bert, SENTENCES, pooling)
    for batch_size in (64, 2, 3):
        embedder = get_embedder(str(tiny_bert), pooling=pooling, batch_size=batch_size)
        assert isinstance(embedder, BoundEncoder) and embedder.name == str(tiny_bert)
        got = embedder.encode(SENTENCES, "eng")
        assert got.shape == (len(SENTENCES), 16) and got.dtype == np.float32
        np.testing.assert_allclose(got, reference, atol=1e-5)
    order = np.random.default_rng(0).permutation(len(SENTENCES))
    shuffled = get_embedder(str(tiny_bert), pooling=pooling, batch_size=3).encode([SENTENCES[i] for i in order], "eng")
    np.testing.assert_allclose(shuffled, reference[order], atol=1e-5)


def test_hf_folder_pooling_changes_vectors(tiny_bert: Path) -> None:
    cls = get_embedder(str(tiny_bert), pooling="cls").encode(SENTENCES[:3], "eng")
    mean = get_embedder(str(tiny_bert), pooling="mean").encode(SENTENCES[:3], "eng")
    assert not np.allclose(cls, mean)


def test_eval_and_encode_give_identical_vectors_past_128_tokens(tmp_path: Path) -> None:
    """Issue 7: ``eval`` (get_embedder) and ``interlingua.encode(..., quantize=False)`` are one path, for a run
    folder and for a Hugging Face folder. Both models have 256 positions; the inputs include sentences of
    ~180 and ~260 tokens, so a 128-token cut (what ``eval`` did for Hugging Face folders) changes vectors
    and the 256-token cut is exercised; the hand-computed references say the shared numbers are right."""
    run = make_run(tmp_path / "run", max_positions=256)
    run_sentences = RUN_SENTENCES + [" ".join(RUN_SENTENCES * 4), " ".join(RUN_SENTENCES * 6)]  # 178, 266 tokens
    got = get_embedder(str(run)).encode(run_sentences, "deu")
    np.testing.assert_array_equal(got, interlingua.encode(run, run_sentences, quantize=False))
    np.testing.assert_allclose(got, reference_vectors(run, run_sentences, "deu"), atol=1e-5)

    bert = _tiny_bert(tmp_path / "bert", max_positions=256)
    hf_sentences = SENTENCES + [" ".join(SENTENCES * 6), " ".join(SENTENCES * 9)]  # 182, 272 tokens
    got = get_embedder(str(bert)).encode(hf_sentences, "eng")
    np.testing.assert_array_equal(got, interlingua.encode(bert, hf_sentences, quantize=False))
    np.testing.assert_allclose(got, hf_reference(bert, hf_sentences), atol=1e-5)
    first_128 = " ".join(" ".join(SENTENCES * 6).split()[:126])  # + [CLS], [SEP]: the old eval input
    assert np.abs(got[-2] - hf_reference(bert, [first_128])[0]).max() > 1e-3  # so the cut would be seen


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
