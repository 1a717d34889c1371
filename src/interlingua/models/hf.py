"""The Hugging Face bridge: our encoder <-> ``BertModel`` / ``BertForMaskedLM`` (and XLM-R on the way in).

Export (``interlingua export hf RUN_DIR OUT_DIR``) writes ``config.json``, ``model.safetensors`` and the
run's tokenizer files; ``transformers.AutoModel`` loads the folder and gives our hidden states. Import
(:func:`from_hf`, :func:`load_hf_into`) reads a local BERT or XLM-R folder, safetensors only.

Most names are a rename (``layers.{i}.ff_in`` <-> ``encoder.layer.{i}.intermediate.dense``); the fused
``qkv`` is split into ``query``/``key``/``value``. Two things are not a rename:

**token_type_ids.** BERT has one extra additive table, ``token_type_embeddings``; our language and segment
tables both land there. Pass ``token_type_ids`` to the exported model as ``config.json`` says in
``"interlingua_token_types"`` (:func:`hf_token_type_ids` computes them):

==========================  ====================  =============================================
``interlingua_token_types``  type_vocab_size       token_type_ids
==========================  ====================  =============================================
``"none"``                  1 (a zero row)        omit them (all 0)
``"segment"``               n_segments            the segment index (0, 1), as in BERT
``"lang"``                  n_langs               the language row, ``interlingua_langs.index(lang)``
``"segment*n_langs+lang"``  n_segments * n_langs  ``segment * n_langs + lang``
==========================  ====================  =============================================

The last case is exact: row ``s * n_langs + l`` holds ``segment[s] + lang[l]``, and both were added anyway.

**position_ids.** Exported models use BERT's positions, which are ours (0, 1, ...). Pass ``position_ids``
when the run used ``reset_positions`` (TLM restarts positions at the second sentence) or left padding.
XLM-R counts positions from ``padding_idx + 1`` (= 2) and gives pads ``padding_idx``; on import the
position table is sliced so that our position 0 is their position ``padding_idx + 1``, so
``max_positions`` is theirs minus ``padding_idx + 1`` (514 -> 512). A one-row token-type table (XLM-R,
or our own ``"none"`` export) is added to every position row, so the imported model has no segment table.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from torch import Tensor

from interlingua.config import ModelConfig
from interlingua.errors import CheckpointError
from interlingua.models.encoder import Embeddings, Encoder
from interlingua.models.heads import PretrainModel
from interlingua.io_safety import check_export_dir, load_safetensors, publish_dir, staging_dir

log = logging.getLogger(__name__)

# Per layer, our module -> BertLayer's. The fused qkv is handled apart.
_LAYER = {
    "attn.out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "ff_in": "intermediate.dense",
    "ff_out": "output.dense",
    "ff_norm": "output.LayerNorm",
}
_QKV = ("query", "key", "value")
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
_ROBERTA_TYPES = ("roberta", "xlm-roberta")
_BASE_PREFIXES = ("bert.", "roberta.")
_REQUIRED = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def _wb(mine: str, theirs: str) -> dict[str, str]:
    return {f"{mine}.{p}": f"{theirs}.{p}" for p in ("weight", "bias")}


def _encoder_params(n_layers: int) -> dict[str, str]:
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


def _head_params(family: str) -> dict[str, str]:
    """Our head parameter -> the checkpoint's (base prefix stripped), for ``family`` "bert" / "roberta"."""
    modules = _ROBERTA_HEADS if family == "roberta" else _BERT_HEADS
    names = {"heads.lm.bias": _LM_BIAS[family]}
    for mine, theirs in modules.items():
        names.update(_wb(mine, theirs))
    return names


# ------------------------------------------------------------------------------------------ token types


def token_type_scheme(cfg: ModelConfig) -> str:
    """How language and segment ids become BERT ``token_type_ids`` (see the module docstring)."""
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


def _type_table(emb: Embeddings) -> Tensor:
    """The (n_types, D) token-type table equivalent to our language and segment tables."""
    lang = emb.lang.weight if emb.lang is not None else None
    seg = emb.segment.weight if emb.segment is not None else None
    if lang is None and seg is None:
        return torch.zeros_like(emb.norm.weight).unsqueeze(0)  # (1, D)
    if lang is None or seg is None:
        return lang if seg is None else seg
    return (seg[:, None, :] + lang[None, :, :]).flatten(0, 1)  # (S * L, D), row s * L + l


def _split_type_table(types: Tensor, scheme: str, n_langs: int) -> dict[str, Tensor]:
    """Inverse of :func:`_type_table` for our own exports; {} means "fold it into the positions"."""
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


# ---------------------------------------------------------------------------------------------- export


def to_hf_state_dict(model: PretrainModel | Encoder, prefix: str = "") -> dict[str, Tensor]:
    """Our weights under ``BertModel`` names (``prefix + "embeddings..."``) plus BERT head names.

    The LM head becomes ``cls.predictions.*`` (decoder tied to the word embeddings, so not written, as
    ``save_pretrained`` does), the NSP head ``{prefix}pooler.dense.*`` and ``cls.seq_relationship.*``.
    Pass ``prefix="bert."`` for a ``BertFor*`` checkpoint.
    """
    encoder = model.encoder if isinstance(model, PretrainModel) else model
    ours = {k: v.detach() for k, v in encoder.state_dict().items()}
    out = {f"{prefix}{theirs}": ours[mine] for mine, theirs in _encoder_params(len(encoder.layers)).items()}
    for i in range(len(encoder.layers)):
        for p in ("weight", "bias"):
            for name, part in zip(_QKV, ours[f"layers.{i}.attn.qkv.{p}"].chunk(3)):  # q rows, k rows, v rows
                out[f"{prefix}encoder.layer.{i}.attention.self.{name}.{p}"] = part
    out[f"{prefix}embeddings.token_type_embeddings.weight"] = _type_table(encoder.embeddings).detach()
    if isinstance(model, PretrainModel):
        if set(model.heads) - {"lm", "nsp"}:
            log.warning("heads %s have no BERT counterpart; not exported", sorted(set(model.heads) - {"lm", "nsp"}))
        heads = {f"heads.{k}": v.detach() for k, v in model.heads.state_dict().items()}
        for mine, theirs in _head_params("bert").items():
            if mine in heads:
                out[prefix + theirs if theirs.startswith("pooler.") else theirs] = heads[mine]
    return {k: v.contiguous().clone() for k, v in out.items()}  # safetensors refuses shared storage


def _architecture(model: PretrainModel | Encoder) -> str:
    heads = set(model.heads) if isinstance(model, PretrainModel) else set()
    if {"lm", "nsp"} <= heads:
        return "BertForPreTraining"
    return "BertForMaskedLM" if "lm" in heads else "BertForNextSentencePrediction" if "nsp" in heads else "BertModel"


def hf_config(model: PretrainModel | Encoder, pad_token_id: int, langs: list[str]) -> dict:
    """The ``config.json`` of an export, with our token-type scheme as extra ``interlingua_*`` fields."""
    cfg = model.cfg
    n_types = _type_table((model.encoder if isinstance(model, PretrainModel) else model).embeddings).shape[0]
    return {
        "model_type": "bert",
        "architectures": [_architecture(model)],
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "intermediate_size": cfg.d_ff,
        "max_position_embeddings": cfg.max_positions,
        "type_vocab_size": n_types,
        "layer_norm_eps": cfg.layer_norm_eps,
        "hidden_act": "gelu",  # exact erf GELU, as F.gelu
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.attn_dropout,
        "initializer_range": cfg.init_std,
        "pad_token_id": pad_token_id,
        "tie_word_embeddings": True,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "interlingua_token_types": token_type_scheme(cfg),
        "interlingua_langs": list(langs),
        "interlingua_n_langs": cfg.n_langs if cfg.lang_embeddings else 0,
    }


def _tokenizer_info(tokenizer_dir: Path) -> tuple[int, list[str]]:
    """(pad id, languages) from a run's tokenizer folder."""
    file = tokenizer_dir / "tokenizer.json"
    if not file.is_file():
        raise CheckpointError(f"no tokenizer.json in {tokenizer_dir}")
    pad = Tokenizer.from_file(str(file)).token_to_id("<pad>")
    langs_file = tokenizer_dir / "langs.json"
    langs = json.loads(langs_file.read_text(encoding="utf-8")) if langs_file.exists() else []
    return (0 if pad is None else pad), langs


def export_model(
    model: PretrainModel | Encoder, tokenizer_dir: Path, out_dir: Path, langs: list[str] | None = None,
    *, force: bool = False,
) -> Path:
    """Write ``model`` + the tokenizer files of ``tokenizer_dir`` as a Hugging Face folder at ``out_dir``.

    ``langs`` (default: ``tokenizer_dir/langs.json``) names the rows of the language table. The folder is
    built next to ``out_dir`` and moved into place, so a crash never leaves half an export. An earlier
    export there is replaced; a non-empty folder that no export wrote is refused unless ``force``, and
    even then only the exported files are replaced (see :mod:`interlingua.io_safety`).
    """
    tokenizer_dir, out_dir = Path(tokenizer_dir), Path(out_dir)
    pad_id, tok_langs = _tokenizer_info(tokenizer_dir)
    check_export_dir(out_dir, force)
    tmp = staging_dir(out_dir)
    try:
        for f in sorted(tokenizer_dir.iterdir()):
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        prefix = "bert." if isinstance(model, PretrainModel) and len(model.heads) else ""
        save_file(to_hf_state_dict(model, prefix), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config = hf_config(model, pad_id, tok_langs if langs is None else langs)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        publish_dir(tmp, out_dir, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_hf(run_dir: Path, out_dir: Path, *, force: bool = False) -> Path:
    """``interlingua export hf RUN_DIR OUT_DIR [--force]``: a run folder -> a folder ``AutoModel`` loads."""
    from interlingua.models.pretrained import load_run  # the run loader imports the trainer: keep it lazy

    check_export_dir(Path(out_dir), force)  # before loading the model
    model, vocab, _ = load_run(Path(run_dir))
    return export_model(model, Path(run_dir) / "tokenizer", out_dir, langs=vocab.langs, force=force)


# ---------------------------------------------------------------------------------------------- import


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
    if model_type not in ("bert", *_ROBERTA_TYPES):
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
    family = "roberta" if hf["model_type"] in _ROBERTA_TYPES else "bert"
    sd = {k.removeprefix(_base_prefix(k)): v for k, v in _read_weights(folder).items()}
    n_layers = hf["num_hidden_layers"]
    out = {f"encoder.{mine}": _get(sd, theirs, folder) for mine, theirs in _encoder_params(n_layers).items()}
    for i in range(n_layers):
        for p in ("weight", "bias"):
            parts = [_get(sd, f"encoder.layer.{i}.attention.self.{name}.{p}", folder) for name in _QKV]
            out[f"encoder.layers.{i}.attn.qkv.{p}"] = torch.cat(parts)  # (3D, D): q rows, k rows, v rows

    out.update({f"encoder.{k}": v for k, v in _import_embeddings(hf, sd, family, folder).items()})
    heads = _head_params(family)
    out.update({mine: sd[theirs] for mine, theirs in heads.items() if theirs in sd})
    used = set(_encoder_params(n_layers).values()) | set(heads.values())
    skipped = sorted(k for k in sd if k not in used and not _known_extra(k))
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
    tables = _split_type_table(types, scheme, n_langs)
    if not tables:
        positions = positions + types[0]  # every token adds type row 0: exact to fold it into positions
    return {"embeddings.position.weight": positions, **tables}


def _base_prefix(key: str) -> str:
    return next((p for p in _BASE_PREFIXES if key.startswith(p)), "")


def _known_extra(key: str) -> bool:
    """Weights that are rebuilt rather than loaded: tied decoders, position-id buffers, fused qkv parts."""
    return (
        ".attention.self." in key
        or key.endswith("position_ids")
        or key.startswith(("cls.predictions.decoder.", "lm_head.decoder."))
        or key == "embeddings.token_type_embeddings.weight"
    )


def load_hf_into(model: PretrainModel | Encoder, folder: Path) -> None:
    """Copy a local BERT / XLM-R folder's weights into ``model``, whose config must match theirs.

    Build the model from :func:`from_hf`'s config to be sure; a mismatch is a :class:`CheckpointError`. Heads the model has but the checkpoint
    lacks keep their initialisation (with a warning); heads the checkpoint has but the model lacks are
    skipped.
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
