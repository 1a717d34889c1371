"""Export an encoder + decoder run to Hugging Face's ``EncoderDecoderModel`` (BERT2BERT).

``interlingua export hf RUN_DIR OUT_DIR --tgt-lang deu`` (a run with a decoder) writes a folder that
``EncoderDecoderModel.from_pretrained`` loads and whose ``generate`` gives our tokens (tested, greedy and beam).

Names: the encoder is exported as for ``export hf`` under ``encoder.``; the decoder under ``decoder.bert.``
(our shared embeddings, copied) and ``decoder.cls.predictions.`` (its LM head). Per block: ``attn`` ->
``attention``, ``cross`` -> ``crossattention``, the feed-forward as in BERT.

One detail cannot be mapped one to one: while generating, ``EncoderDecoderModel`` passes no
``token_type_ids`` to its decoder, so the decoder cannot be told the target language per call. The target
language's embedding (plus segment 0's) is therefore folded into the decoder's single token-type row, and an
export writes one target language; export again for another. The encoder keeps the full table: pass
``token_type_ids`` as for ``export hf`` (``interlingua.models.hf.hf_token_type_ids``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import Tensor

from interlingua.errors import CheckpointError, ConfigError
from interlingua.io_safety import check_export_dir, publish_dir, staging_dir
from interlingua.models.heads import PretrainModel
from interlingua.models.hf_export import hf_config, to_hf_state_dict
from interlingua.models.hf_keys import QKV, hf_token_type_ids, type_table
from interlingua.models.seq2seq import decoder_of

_BLOCK = {"attn.out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
          "cross.out": "crossattention.output.dense", "cross_norm": "crossattention.output.LayerNorm",
          "cross.q": "crossattention.self.query", "cross.k": "crossattention.self.key",
          "cross.v": "crossattention.self.value", "ff_in": "intermediate.dense", "ff_out": "output.dense",
          "ff_norm": "output.LayerNorm"}
_LM = {"lm.dense": "cls.predictions.transform.dense", "lm.norm": "cls.predictions.transform.LayerNorm"}


def decoder_type_row(model: PretrainModel, tgt_lang: int) -> Tensor:
    """(1, D): the token-type row the exported decoder adds to every token (target language folded in)."""
    table = type_table(model.encoder.embeddings).detach()  # (n_types, D)
    ids = hf_token_type_ids(model.cfg, torch.tensor([[tgt_lang]]), None)
    return table[int(ids[0, 0]) if ids is not None else 0].unsqueeze(0)


def to_hf_seq2seq_state_dict(model: PretrainModel, tgt_lang: int) -> dict[str, Tensor]:
    """Our encoder + ``heads.decoder`` under ``EncoderDecoderModel`` names."""
    out = {f"encoder.{k}": v for k, v in to_hf_state_dict(model.encoder).items()}
    emb = to_hf_state_dict(model.encoder, "decoder.bert.")
    out.update({k: v for k, v in emb.items() if ".embeddings." in k})
    out["decoder.bert.embeddings.token_type_embeddings.weight"] = decoder_type_row(model, tgt_lang)
    ours = {k: v.detach() for k, v in decoder_of(model).state_dict().items()}
    for i in range(len(decoder_of(model).layers)):
        base = f"decoder.bert.encoder.layer.{i}."
        for p in ("weight", "bias"):
            for mine, theirs in _BLOCK.items():
                out[f"{base}{theirs}.{p}"] = ours[f"layers.{i}.{mine}.{p}"]
            for name, part in zip(QKV, ours[f"layers.{i}.attn.qkv.{p}"].chunk(3)):  # q rows, k rows, v rows
                out[f"{base}attention.self.{name}.{p}"] = part
    for p in ("weight", "bias"):
        for mine, theirs in _LM.items():
            out[f"decoder.{theirs}.{p}"] = ours[f"{mine}.{p}"]
    out["decoder.cls.predictions.bias"] = ours["lm.bias"]
    out["decoder.cls.predictions.decoder.bias"] = ours["lm.bias"]  # the same parameter in BERT
    out["decoder.cls.predictions.decoder.weight"] = model.encoder.embeddings.word.weight.detach()
    return {k: v.contiguous().clone() for k, v in out.items()}


def seq2seq_config(model: PretrainModel, vocab, tgt: str):
    """An ``EncoderDecoderConfig``: our BERT config twice, the decoder's with cross-attention and one type row."""
    from transformers import BertConfig, EncoderDecoderConfig

    drop = {"architectures", "dtype", "tie_word_embeddings"}
    enc = {k: v for k, v in hf_config(model, vocab.pad_id, vocab.langs).items() if k not in drop}
    dec = {**enc, "type_vocab_size": 1, "is_decoder": True, "add_cross_attention": True,
           "interlingua_tgt_lang": tgt}
    cfg = EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(**enc), BertConfig(**dec))
    cfg.decoder_start_token_id, cfg.bos_token_id = vocab.cls_id, vocab.cls_id
    cfg.eos_token_id, cfg.pad_token_id = vocab.sep_id, vocab.pad_id
    cfg.tie_word_embeddings = False  # the decoder's own copy of the embeddings stays tied to its LM head
    return cfg


def export_seq2seq(model: PretrainModel, vocab, tokenizer_dir: Path, out_dir: Path, tgt: str,
                   *, force: bool = False) -> Path:
    """Write ``model`` as an ``EncoderDecoderModel`` folder that generates into language ``tgt``."""
    from transformers import EncoderDecoderModel

    if tgt not in vocab.langs:
        raise ConfigError(f"--tgt-lang {tgt}: the model's languages are {', '.join(vocab.langs)}")
    check_export_dir(out_dir, force)
    hf = EncoderDecoderModel(config=seq2seq_config(model, vocab, tgt))
    missing, unexpected = hf.load_state_dict(to_hf_seq2seq_state_dict(model, vocab.lang_index(tgt)), strict=False)
    left = [k for k in missing if not k.startswith("encoder.pooler.")]  # BertModel's pooler: unused here
    if left or unexpected:
        raise CheckpointError(f"EncoderDecoderModel names do not match ours: missing {left[:5]}, extra {unexpected[:5]}")
    tmp = staging_dir(out_dir)
    try:
        hf.save_pretrained(tmp)
        for f in sorted(Path(tokenizer_dir).iterdir()):
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        (tmp / "interlingua_seq2seq.json").write_text(json.dumps({"tgt_lang": tgt, "langs": vocab.langs}) + "\n")
        publish_dir(tmp, out_dir, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
