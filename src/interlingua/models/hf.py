"""The Hugging Face bridge: our encoder <-> ``BertModel`` / ``BertForMaskedLM`` (and XLM-R on the way in).

The code lives in :mod:`~interlingua.models.hf_keys` (parameter names, token-type tables),
:mod:`~interlingua.models.hf_export` and :mod:`~interlingua.models.hf_import`; this module documents the
mapping and re-exports the public functions.

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

from interlingua.models.hf_export import export_hf, export_model, hf_config, to_hf_state_dict
from interlingua.models.hf_import import from_hf, load_hf_into
from interlingua.models.hf_keys import hf_token_type_ids, token_type_scheme

__all__ = [
    "export_hf", "export_model", "from_hf", "hf_config", "hf_token_type_ids", "load_hf_into", "to_hf_state_dict",
    "token_type_scheme",
]
