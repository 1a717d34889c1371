"""Export: our encoder (+ LM / NSP heads) -> a Hugging Face ``BertModel`` / ``BertFor*`` folder.

``interlingua export hf RUN_DIR OUT_DIR`` writes ``config.json``, ``model.safetensors`` and the run's
tokenizer files; ``transformers.AutoModel`` loads the folder and gives our hidden states. How language and
segment ids map to ``token_type_ids`` is described in :mod:`interlingua.models.hf`.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from safetensors.torch import save_file
from tokenizers import Tokenizer
from torch import Tensor

from interlingua.errors import CheckpointError
from interlingua.io_safety import check_export_dir, publish_dir, staging_dir
from interlingua.models.encoder import Encoder
from interlingua.models.heads import PretrainModel
from interlingua.models.hf_keys import QKV, encoder_params, head_params, token_type_scheme, type_table

log = logging.getLogger(__name__)


def to_hf_state_dict(model: PretrainModel | Encoder, prefix: str = "") -> dict[str, Tensor]:
    """Our weights under ``BertModel`` names (``prefix + "embeddings..."``) plus BERT head names.

    The LM head becomes ``cls.predictions.*`` (decoder tied to the word embeddings, so not written, as
    ``save_pretrained`` does), the NSP head ``{prefix}pooler.dense.*`` and ``cls.seq_relationship.*``.
    Pass ``prefix="bert."`` for a ``BertFor*`` checkpoint.
    """
    encoder = model.encoder if isinstance(model, PretrainModel) else model
    ours = {k: v.detach() for k, v in encoder.state_dict().items()}
    out = {f"{prefix}{theirs}": ours[mine] for mine, theirs in encoder_params(len(encoder.layers)).items()}
    for i in range(len(encoder.layers)):
        for p in ("weight", "bias"):
            for name, part in zip(QKV, ours[f"layers.{i}.attn.qkv.{p}"].chunk(3)):  # q rows, k rows, v rows
                out[f"{prefix}encoder.layer.{i}.attention.self.{name}.{p}"] = part
    out[f"{prefix}embeddings.token_type_embeddings.weight"] = type_table(encoder.embeddings).detach()
    if isinstance(model, PretrainModel):
        if set(model.heads) - {"lm", "nsp"}:
            log.warning("heads %s have no BERT counterpart; not exported", sorted(set(model.heads) - {"lm", "nsp"}))
        heads = {f"heads.{k}": v.detach() for k, v in model.heads.state_dict().items()}
        for mine, theirs in head_params("bert").items():
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
    n_types = type_table((model.encoder if isinstance(model, PretrainModel) else model).embeddings).shape[0]
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
    # Lazy: the run-folder loader sits a layer above this module (it builds heads through the objective
    # registry); export_model needs none of it.
    from interlingua.models.pretrained import load_run

    check_export_dir(Path(out_dir), force)  # before loading the model
    model, vocab, _ = load_run(Path(run_dir))
    return export_model(model, Path(run_dir) / "tokenizer", out_dir, langs=vocab.langs, force=force)
