"""The Hugging Face bridge: exported folders load in ``transformers`` and give our numbers, and back."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from interlingua.config import ModelConfig, load_config
from interlingua.errors import CheckpointError, OutputError
from interlingua.io_safety import EXPORT_MARKER
from interlingua.models.heads import PretrainModel
from interlingua.models.hf import export_hf, export_model, from_hf, hf_token_type_ids, load_hf_into
from interlingua.tokenization.vocab import SPECIALS, lang_tag, load_vocab, save_vocab
from interlingua.training.checkpoint import save_model
from interlingua.training.run import write_run_info

transformers = pytest.importorskip("transformers")

LANGS = ["deu", "eng", "fra"]
PAD = 1
TOL = 1e-4
# case (= config.json's interlingua_token_types) -> (lang_embeddings, n_segments, heads)
CASES = {
    "none": (False, 0, ("lm",)),
    "segment": (False, 2, ("lm", "nsp")),
    "lang": (True, 0, ("lm",)),
    "segment*n_langs+lang": (True, 2, ("lm", "nsp")),
}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run's ``tokenizer/`` folder: a 100-token WordLevel vocabulary with our special tokens first."""
    words = SPECIALS + [lang_tag(l) for l in LANGS]
    words += [f"w{i}" for i in range(100 - len(words))]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path_factory.mktemp("run") / "tokenizer"
    save_vocab(tok, LANGS, folder)
    return folder


def tiny_config(lang_embeddings: bool = False, n_segments: int = 0) -> ModelConfig:
    return ModelConfig(
        vocab_size=100, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_positions=16,
        lang_embeddings=lang_embeddings, n_langs=len(LANGS) if lang_embeddings else 0,
        n_segments=n_segments, dropout=0.0, attn_dropout=0.0,
    )


@torch.no_grad()
def jitter(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every weight off its init (LayerNorm 1/0, zero biases) so a mis-mapped one shows."""
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model.eval()


def padded_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """3 right-padded rows of lengths 9, 6, 4: two segments each, one language per row."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 6, 4])
    pos = torch.arange(9).expand(3, 9)  # (B, T)
    attn = pos < lengths[:, None]
    ids = torch.randint(len(SPECIALS), 100, (3, 9), generator=gen).masked_fill(~attn, PAD)
    langs = torch.randint(0, len(LANGS), (3, 1), generator=gen).expand(3, 9)
    segments = ((pos >= lengths[:, None] // 2) & attn).long()
    return {"ids": ids, "attn": attn, "pos": pos, "langs": langs, "segments": segments}


@torch.no_grad()
def ours(model: PretrainModel, b: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.encoder(b["ids"], b["attn"], b["pos"], b["langs"], b["segments"]).last_hidden  # (B, T, D)


def max_diff(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return (a - b)[mask].abs().max().item()


@pytest.mark.parametrize("case", list(CASES))
@torch.no_grad()
def test_export_loads_in_transformers_with_same_outputs(case: str, tokenizer_dir: Path, tmp_path: Path) -> None:
    lang_embeddings, n_segments, heads = CASES[case]
    cfg = tiny_config(lang_embeddings, n_segments)
    model = jitter(PretrainModel(cfg, heads))
    out = export_model(model, tokenizer_dir, tmp_path / "hf")

    config = json.loads((out / "config.json").read_text())
    assert config["interlingua_token_types"] == case and config["interlingua_langs"] == LANGS
    assert {"tokenizer.json", "tokenizer_config.json", "model.safetensors"} <= {f.name for f in out.iterdir()}

    b = padded_batch()
    inputs = {
        "input_ids": b["ids"], "attention_mask": b["attn"].long(), "position_ids": b["pos"],
        "token_type_ids": hf_token_type_ids(cfg, b["langs"], b["segments"]),
    }
    hidden = ours(model, b)
    base = transformers.AutoModel.from_pretrained(out)
    assert max_diff(hidden, base(**inputs).last_hidden_state, b["attn"]) <= TOL

    # BertForPreTraining when there is an NSP head, else BertForMaskedLM: either loads with nothing left over.
    auto = transformers.AutoModelForPreTraining if "nsp" in heads else transformers.AutoModelForMaskedLM
    full, info = auto.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    res = full(**inputs)
    logits = res.prediction_logits if "nsp" in heads else res.logits  # (B, T, V)
    assert max_diff(model.head("lm")(hidden), logits, b["attn"]) <= TOL
    if "nsp" in heads:
        assert (model.head("nsp")(hidden[:, 0]) - res.seq_relationship_logits).abs().max() <= TOL

    # And back: our own export re-imports losslessly, language / segment tables included.
    back_cfg, _ = from_hf(out)
    assert (back_cfg.lang_embeddings, back_cfg.n_segments) == (lang_embeddings, n_segments)
    back = PretrainModel(back_cfg, heads).eval()
    load_hf_into(back, out)
    assert max_diff(hidden, ours(back, b), b["attn"]) <= TOL


@torch.no_grad()
def test_bert_folder_loads_into_our_model(tmp_path: Path) -> None:
    hf_cfg = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=16, type_vocab_size=2, pad_token_id=PAD,
    )
    bert = jitter(transformers.BertModel(hf_cfg))
    bert.save_pretrained(tmp_path, safe_serialization=True)

    cfg, _ = from_hf(tmp_path)
    assert (cfg.max_positions, cfg.n_segments, cfg.lang_embeddings) == (16, 2, False)
    model = PretrainModel(cfg, ("nsp",)).eval()
    load_hf_into(model, tmp_path)
    b = padded_batch(1)
    res = bert(input_ids=b["ids"], attention_mask=b["attn"].long(), token_type_ids=b["segments"])
    hidden = ours(model, b)
    assert max_diff(hidden, res.last_hidden_state, b["attn"]) <= TOL
    assert torch.allclose(torch.tanh(model.head("nsp").pooler(hidden[:, 0])), res.pooler_output, atol=TOL)

    # Four heads or eight change no tensor shape: the configs are compared instead.
    other = PretrainModel(ModelConfig(**{**vars(cfg), "n_heads": 8}))
    with pytest.raises(CheckpointError, match="n_heads=8 \\(checkpoint: 4\\)"):
        load_hf_into(other, tmp_path)


@torch.no_grad()
def test_xlmr_folder_loads_into_our_model(tmp_path: Path) -> None:
    """XLM-R counts positions from pad + 1 = 2 and has one token-type row: both are folded away."""
    hf_cfg = transformers.XLMRobertaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=18, type_vocab_size=1, pad_token_id=PAD,
    )
    xlmr = jitter(transformers.XLMRobertaForMaskedLM(hf_cfg))
    xlmr.save_pretrained(tmp_path, safe_serialization=True)

    cfg, _ = from_hf(tmp_path)
    assert (cfg.max_positions, cfg.n_segments) == (16, 0)
    model = PretrainModel(cfg, ("lm",)).eval()
    load_hf_into(model, tmp_path)
    b = padded_batch(2)
    res = xlmr(input_ids=b["ids"], attention_mask=b["attn"].long(), output_hidden_states=True)  # positions from ids
    hidden = ours(model, b)
    assert max_diff(hidden, res.hidden_states[-1], b["attn"]) <= TOL
    assert max_diff(model.head("lm")(hidden), res.logits, b["attn"]) <= TOL


def test_bin_only_folder_is_refused_without_unpickling(tmp_path: Path) -> None:
    folder = tmp_path / "old-bert"
    transformers.BertConfig(vocab_size=100, hidden_size=32, num_attention_heads=4).save_pretrained(folder)
    (folder / "pytorch_model.bin").write_bytes(b"not opened: a pickle could run code")
    with pytest.raises(CheckpointError, match="old-bert.*pytorch_model.bin.*model.safetensors"):
        from_hf(folder)


def test_export_replaces_an_export_but_not_another_folder(tokenizer_dir: Path, tmp_path: Path) -> None:
    model = PretrainModel(tiny_config(), ("lm",))
    out = tmp_path / "hf"
    export_model(model, tokenizer_dir, out)
    export_model(model, tokenizer_dir, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]  # no temporary folders left behind
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(OutputError, match="Refusing"):
        export_model(model, tokenizer_dir, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


@torch.no_grad()
def test_export_hf_reads_a_run_folder(tokenizer_dir: Path, tmp_path: Path) -> None:
    """``interlingua export hf RUN_DIR OUT_DIR`` end to end, on a run folder written as training does."""
    run_dir = tmp_path / "run"
    shutil.copytree(tokenizer_dir, run_dir / "tokenizer")
    cfg = load_config(None, ["objectives={mlm: {}, nsp: {}}"])
    cfg.model = tiny_config(lang_embeddings=True, n_segments=2)
    vocab = load_vocab(run_dir / "tokenizer")
    write_run_info(cfg, vocab, run_dir)
    model = jitter(PretrainModel(cfg.model, ("lm", "nsp")))
    save_model(model, run_dir / "model.safetensors")

    out = export_hf(run_dir, tmp_path / "hf")
    b = padded_batch(3)
    tt = hf_token_type_ids(cfg.model, b["langs"], b["segments"])
    theirs = transformers.AutoModel.from_pretrained(out)(
        input_ids=b["ids"], attention_mask=b["attn"].long(), position_ids=b["pos"], token_type_ids=tt
    ).last_hidden_state
    assert max_diff(ours(model, b), theirs, b["attn"]) <= TOL


def _user_folder(folder: Path) -> Path:
    """A folder a user filled by hand: a config.json, notes, a pickled model and a sub-folder."""
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "notes.txt").write_text("keep me")
    (folder / "pytorch_model.bin").write_bytes(b"their weights")
    (folder / "sub" / "data.txt").write_text("keep me too")
    return folder


def test_export_into_a_folder_it_did_not_write_needs_force_and_keeps_user_files(
        tokenizer_dir: Path, tmp_path: Path) -> None:
    """Issue 6: a folder holding config.json was replaced whole, notes.txt, pytorch_model.bin and sub/ gone."""
    model = PretrainModel(tiny_config(), ("lm",))
    out = _user_folder(tmp_path / "mine")
    with pytest.raises(OutputError, match=r"mine is not empty.*notes\.txt.*pytorch_model\.bin.*sub/.*--force"):
        export_model(model, tokenizer_dir, out)
    assert (out / "config.json").read_text() == "{}" and not (out / EXPORT_MARKER).exists()

    export_model(model, tokenizer_dir, out, force=True)
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "pytorch_model.bin").read_bytes() == b"their weights"
    assert (out / "sub" / "data.txt").read_text() == "keep me too"
    assert json.loads((out / "config.json").read_text())["model_type"] == "bert"  # the export's own file
    from_hf(out)
    written = json.loads((out / EXPORT_MARKER).read_text())["files"]
    assert "model.safetensors" in written and "notes.txt" not in written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folder left behind


def test_reexport_removes_only_files_its_earlier_export_wrote(tokenizer_dir: Path, tmp_path: Path) -> None:
    model = PretrainModel(tiny_config(), ("lm",))
    out = export_model(model, tokenizer_dir, tmp_path / "hf")
    (out / "notes.txt").write_text("added by the user")
    (out / "old.json").write_text("{}")  # as if an earlier version of the export had written it
    marker = json.loads((out / EXPORT_MARKER).read_text())
    marker["files"] += ["old.json", "../outside.txt"]
    (out / EXPORT_MARKER).write_text(json.dumps(marker))
    (tmp_path / "outside.txt").write_text("never touched")
    export_model(model, tokenizer_dir, out)  # marked: no --force needed
    assert not (out / "old.json").exists()
    assert (out / "notes.txt").read_text() == "added by the user"
    assert (tmp_path / "outside.txt").read_text() == "never touched"


def test_unwritable_export_folder_is_an_error_naming_it(tokenizer_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    with pytest.raises(OutputError, match=r"cannot write .*ro[/\\]hf.*Permission denied"):
        export_model(PretrainModel(tiny_config(), ("lm",)), tokenizer_dir, tmp_path / "ro" / "hf")


@pytest.mark.parametrize("size", [0, 20, "half"])
def test_truncated_safetensors_is_an_error_naming_the_file(tokenizer_dir: Path, tmp_path: Path, size) -> None:
    out = export_model(PretrainModel(tiny_config(), ("lm",)), tokenizer_dir, tmp_path / "hf")
    weights = out / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2 if size == "half" else size])
    with pytest.raises(CheckpointError, match=r"hf[/\\]model\.safetensors is not a readable safetensors file"):
        from_hf(out)
