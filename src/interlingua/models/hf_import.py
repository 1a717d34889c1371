"""Import: a local BERT or XLM-R folder (safetensors only) -> our config and weights.

XLM-R's position offset and the folding of a one-row token-type table into the positions are described in
:mod:`interlingua.models.hf`.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import Tensor

from interlingua.config import ModelConfig
from interlingua.errors import CheckpointError
from interlingua.io_safety import load_safetensors
from interlingua.models.encoder import Encoder
from interlingua.models.heads import PretrainModel
from interlingua.models.hf_keys import QKV, ROBERTA_TYPES, base_prefix, encoder_params, head_params, known_extra, split_type_table

log = logging.getLogger(__name__)

_REQUIRED = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def _read_weights(folder: Path) -> dict[str, Tensor]:
    """All tensors of a local folder, from safetensors only (a ``.bin`` is a pickle: never unpickled)."""
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.is_file():
        return load_safetensors(single)
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return {k: v for shard in shards for k, v in load_safetensors(folder / shard).items()}
    if any(folder.glob("pytorch_model*.bin")):
        raise CheckpointError(
            f"{folder} holds only pytorch_model.bin, a pickle that interlingua will not load. If you trust its "
            "source, convert it once with transformers: load it with its model class (e.g. "
            f"AutoModelForMaskedLM.from_pretrained('{folder}')) and .save_pretrained('{folder}'), which writes "
            "model.safetensors"
        )
    raise CheckpointError(f"{folder} holds no model.safetensors")


def _read_config(folder: Path) -> dict:
    file = folder / "config.json"
    if not file.is_file():
        raise CheckpointError(f"{folder} is not a Hugging Face model folder (no config.json)")
    hf = json.loads(file.read_text(encoding="utf-8"))
    absent = [k for k in _REQUIRED if k not in hf]
    if absent:
        raise CheckpointError(f"{file} lacks {', '.join(absent)}")
    model_type = hf.get("model_type")
    if model_type not in ("bert", *ROBERTA_TYPES):
        raise CheckpointError(f"{file}: model_type {model_type!r} is not BERT or XLM-R")
    for key, want in (("hidden_act", "gelu"), ("position_embedding_type", "absolute"), ("tie_word_embeddings", True)):
        if hf.get(key, want) != want:
            raise CheckpointError(f"{file}: {key}={hf[key]!r} is not supported (interlingua needs {want!r})")
    return hf


def _get(sd: dict[str, Tensor], key: str, folder: Path) -> Tensor:
    if key not in sd:
        raise CheckpointError(f"{folder}: weight {key} is missing")
    return sd[key]


def from_hf(folder: Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    """A local BERT / XLM-R folder -> a matching :class:`ModelConfig` and a ``PretrainModel`` state dict.

    Heads found in the checkpoint come back as ``heads.lm.*`` / ``heads.nsp.*``; other weights (task
    classifiers) are skipped with a warning.
    """
    folder = Path(folder)
    hf = _read_config(folder)
    family = "roberta" if hf["model_type"] in ROBERTA_TYPES else "bert"
    sd = {k.removeprefix(base_prefix(k)): v for k, v in _read_weights(folder).items()}
    n_layers = hf["num_hidden_layers"]
    out = {f"encoder.{mine}": _get(sd, theirs, folder) for mine, theirs in encoder_params(n_layers).items()}
    for i in range(n_layers):
        for p in ("weight", "bias"):
            parts = [_get(sd, f"encoder.layer.{i}.attention.self.{name}.{p}", folder) for name in QKV]
            out[f"encoder.layers.{i}.attn.qkv.{p}"] = torch.cat(parts)  # (3D, D): q rows, k rows, v rows

    out.update({f"encoder.{k}": v for k, v in _import_embeddings(hf, sd, family, folder).items()})
    heads = head_params(family)
    out.update({mine: sd[theirs] for mine, theirs in heads.items() if theirs in sd})
    used = set(encoder_params(n_layers).values()) | set(heads.values())
    skipped = sorted(k for k in sd if k not in used and not known_extra(k))
    if skipped:
        log.warning("%s: skipping weights interlingua has no place for: %s", folder, ", ".join(skipped))

    lang, seg = out.get("encoder.embeddings.lang.weight"), out.get("encoder.embeddings.segment.weight")
    cfg = ModelConfig(
        vocab_size=hf["vocab_size"],
        d_model=hf["hidden_size"],
        n_layers=n_layers,
        n_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        max_positions=out["encoder.embeddings.position.weight"].shape[0],
        lang_embeddings=lang is not None,
        n_langs=0 if lang is None else lang.shape[0],
        n_segments=0 if seg is None else seg.shape[0],
        dropout=hf.get("hidden_dropout_prob", 0.1),
        attn_dropout=hf.get("attention_probs_dropout_prob", 0.1),
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        init_std=hf.get("initializer_range", 0.02),
    )
    return cfg, {k: v.contiguous() for k, v in out.items()}


def _import_embeddings(hf: dict, sd: dict[str, Tensor], family: str, folder: Path) -> dict[str, Tensor]:
    """Position table (XLM-R's offset cut, a lone type row folded in) and the language / segment tables."""
    offset = (hf.get("pad_token_id") or 1) + 1 if family == "roberta" else 0
    positions = _get(sd, "embeddings.position_embeddings.weight", folder)[offset:]  # our 0 = their offset
    types = _get(sd, "embeddings.token_type_embeddings.weight", folder)  # (n_types, D)
    scheme, n_langs = hf.get("interlingua_token_types", "none"), hf.get("interlingua_n_langs", 0)
    if scheme == "segment*n_langs+lang" and (n_langs <= 0 or types.shape[0] % n_langs):
        raise CheckpointError(f"{folder}: interlingua_n_langs={n_langs} does not divide {types.shape[0]} type rows")
    tables = split_type_table(types, scheme, n_langs)
    if not tables:
        positions = positions + types[0]  # every token adds type row 0: exact to fold it into positions
    return {"embeddings.position.weight": positions, **tables}


def load_hf_into(model: PretrainModel | Encoder, folder: Path) -> dict[str, Tensor]:
    """Copy a local BERT / XLM-R folder's weights into ``model``, whose config must match theirs.

    Build the model from :func:`from_hf`'s config to be sure; a mismatch is a :class:`CheckpointError`. Heads the model has but the checkpoint
    lacks keep their initialisation (with a warning); heads the checkpoint has but the model lacks are
    skipped. Returns the checkpoint's weights by our names (heads the model lacks included).
    """
    folder = Path(folder)
    cfg, loaded = from_hf(folder)
    _check_same_shape(model.cfg, cfg, folder)
    if isinstance(model, Encoder):
        loaded = {k.removeprefix("encoder."): v for k, v in loaded.items() if k.startswith("encoder.")}
    state = model.state_dict()
    missing = sorted(k for k in state if k not in loaded)  # only heads, once the configs agree
    if missing:
        log.warning("%s has no weights for %s; they keep their initialisation", folder, ", ".join(missing))
    state.update({k: v.to(state[k].dtype) for k, v in loaded.items() if k in state})
    model.load_state_dict(state)
    return loaded


def _check_same_shape(ours: ModelConfig, theirs: ModelConfig, folder: Path) -> None:
    """n_heads changes no tensor shape, so compare configs rather than tensors."""
    fields = ["vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_positions", "lang_embeddings", "n_segments"]
    fields += ["n_langs"] if ours.lang_embeddings and theirs.lang_embeddings else []
    diff = [f"model.{f}={getattr(ours, f)} (checkpoint: {getattr(theirs, f)})" for f in fields
            if getattr(ours, f) != getattr(theirs, f)]
    if diff:
        raise CheckpointError(f"{folder} does not fit the model: {'; '.join(diff)}. Build the model from "
                              "interlingua.models.hf.from_hf(folder)'s config")
    if ours.layer_norm_eps != theirs.layer_norm_eps:
        log.warning("%s: layer_norm_eps %g, the model's %g", folder, theirs.layer_norm_eps, ours.layer_norm_eps)
