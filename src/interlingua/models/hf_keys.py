"""Our parameter names <-> Hugging Face BERT / XLM-R names, and the token-type table (see :mod:`interlingua.models.hf`).

Shared by :mod:`interlingua.models.hf_export` and :mod:`interlingua.models.hf_import`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from interlingua.config import ModelConfig
from interlingua.models.encoder import Embeddings

# Per layer, our module -> BertLayer's. The fused qkv is handled apart.
_LAYER = {
    "attn.out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "ff_in": "intermediate.dense",
    "ff_out": "output.dense",
    "ff_norm": "output.LayerNorm",
}
QKV = ("query", "key", "value")
# Our head parameters -> BertForPreTraining's / XLMRobertaForMaskedLM's. ``pooler`` lives inside the base
# model, so on export it takes the base prefix.
_BERT_HEADS = {
    "heads.lm.dense": "cls.predictions.transform.dense",
    "heads.lm.norm": "cls.predictions.transform.LayerNorm",
    "heads.nsp.pooler": "pooler.dense",
    "heads.nsp.classifier": "cls.seq_relationship",
}
_ROBERTA_HEADS = {
    "heads.lm.dense": "lm_head.dense",
    "heads.lm.norm": "lm_head.layer_norm",
    "heads.nsp.pooler": "pooler.dense",
}
_LM_BIAS = {"bert": "cls.predictions.bias", "roberta": "lm_head.bias"}
ROBERTA_TYPES = ("roberta", "xlm-roberta")
_BASE_PREFIXES = ("bert.", "roberta.")


def _wb(mine: str, theirs: str) -> dict[str, str]:
    return {f"{mine}.{p}": f"{theirs}.{p}" for p in ("weight", "bias")}


def encoder_params(n_layers: int) -> dict[str, str]:
    """Our encoder parameter -> BertModel's, for every parameter that is a plain rename."""
    names = {
        "embeddings.word.weight": "embeddings.word_embeddings.weight",
        "embeddings.position.weight": "embeddings.position_embeddings.weight",
        **_wb("embeddings.norm", "embeddings.LayerNorm"),
    }
    for i in range(n_layers):
        for mine, theirs in _LAYER.items():
            names.update(_wb(f"layers.{i}.{mine}", f"encoder.layer.{i}.{theirs}"))
    return names


def head_params(family: str) -> dict[str, str]:
    """Our head parameter -> the checkpoint's (base prefix stripped), for ``family`` "bert" / "roberta"."""
    modules = _ROBERTA_HEADS if family == "roberta" else _BERT_HEADS
    names = {"heads.lm.bias": _LM_BIAS[family]}
    for mine, theirs in modules.items():
        names.update(_wb(mine, theirs))
    return names


def base_prefix(key: str) -> str:
    return next((p for p in _BASE_PREFIXES if key.startswith(p)), "")


def known_extra(key: str) -> bool:
    """Weights that are rebuilt rather than loaded: tied decoders, position-id buffers, fused qkv parts."""
    return (
        ".attention.self." in key
        or key.endswith("position_ids")
        or key.startswith(("cls.predictions.decoder.", "lm_head.decoder."))
        or key == "embeddings.token_type_embeddings.weight"
    )


# ------------------------------------------------------------------------------------------ token types


def token_type_scheme(cfg: ModelConfig) -> str:
    """How language and segment ids become BERT ``token_type_ids`` (see :mod:`interlingua.models.hf`)."""
    if cfg.lang_embeddings and cfg.n_segments > 0:
        return "segment*n_langs+lang"
    return "lang" if cfg.lang_embeddings else "segment" if cfg.n_segments > 0 else "none"


def hf_token_type_ids(cfg: ModelConfig, lang_ids: Tensor | None, segment_ids: Tensor | None) -> Tensor | None:
    """(B, T) language / segment ids of our model -> (B, T) ``token_type_ids`` for the exported one."""
    scheme = token_type_scheme(cfg)
    if scheme == "none":
        return None
    if scheme != "segment" and lang_ids is None:
        raise ValueError("this model has language embeddings: pass lang_ids (B, T)")
    if scheme == "lang":
        return lang_ids
    segment_ids = segment_ids if segment_ids is not None else torch.zeros_like(lang_ids)
    return segment_ids if scheme == "segment" else segment_ids * cfg.n_langs + lang_ids


def type_table(emb: Embeddings) -> Tensor:
    """The (n_types, D) token-type table equivalent to our language and segment tables."""
    lang = emb.lang.weight if emb.lang is not None else None
    seg = emb.segment.weight if emb.segment is not None else None
    if lang is None and seg is None:
        return torch.zeros_like(emb.norm.weight).unsqueeze(0)  # (1, D)
    if lang is None or seg is None:
        return lang if seg is None else seg
    return (seg[:, None, :] + lang[None, :, :]).flatten(0, 1)  # (S * L, D), row s * L + l


def split_type_table(types: Tensor, scheme: str, n_langs: int) -> dict[str, Tensor]:
    """Inverse of :func:`type_table` for our own exports; {} means "fold it into the positions"."""
    if scheme == "lang":
        return {"embeddings.lang.weight": types}
    if scheme == "segment*n_langs+lang":
        # row s*L + l = S[s] + L[l]. Take L' = row[0*L + l] = S[0] + L[l] and S' = row[s*L] - row[0]:
        # S'[s] + L'[l] = S[s] + L[l] exactly, although S and L themselves are not identifiable.
        grid = types.view(-1, n_langs, types.shape[-1])  # (S, L, D)
        return {"embeddings.lang.weight": grid[0], "embeddings.segment.weight": grid[:, 0] - grid[0, 0]}
    if scheme == "segment" or types.shape[0] > 1:
        return {"embeddings.segment.weight": types}
    return {}
