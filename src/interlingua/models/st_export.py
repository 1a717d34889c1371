"""``interlingua export sentence-transformers MODEL OUT_DIR``: a folder ``SentenceTransformer(OUT_DIR)`` loads.

The layout is the one sentence-transformers models on the Hub use (module types under their historical
``sentence_transformers.models.*`` names, which every release since 2.x resolves):

    modules.json                        Transformer (the folder root) -> Pooling -> Normalize
    config.json, model.safetensors,     the Hugging Face model: ``export_model`` for a run folder, a copy
    tokenizer files                     of the top-level files for a Hugging Face folder
    sentence_bert_config.json           max_seq_length (= what ``interlingua.encode`` uses), no lowercasing
    1_Pooling/config.json               mean or CLS: the run's ``eval.pooling`` unless ``pooling`` is given
    2_Normalize/                        L2 normalisation, no parameters
    config_sentence_transformers.json   cosine similarity; a default ``query`` prompt when there is a prefix

``interlingua.encode(OUT_DIR, quantize=False)`` reads the same folder back with the same pooling and prompt,
so the two give the same vectors to float rounding.

Two things a sentence-transformers model cannot take as input, so the export fixes them:
- the language of a run with language embeddings: every row of the table is set to ``lang``'s, so the
  folder is a ``lang`` encoder (BERT's token_type_ids, all 0, then pick that row);
- e5's ``query: `` prefix (``baseline:me5-small``, or ``prefix=``): it becomes the default prompt, and the
  pooling includes it, as e5 does.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from interlingua.errors import ConfigError
from interlingua.io_safety import EXPORT_MARKER, check_export_dir, publish_dir, staging_dir

POOLINGS = ("mean", "cls")
TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
NORMALIZE = "sentence_transformers.models.Normalize"
# AutoModel architectures that take add_pooling_layer (the pooler is unused and absent from our exports).
_POOLER_TYPES = ("bert", "roberta", "xlm-roberta")


def export_sentence_transformers(
    model: str | Path, out_dir: str | Path, *, pooling: str | None = None, lang: str | None = None,
    prefix: str | None = None, force: bool = False,
) -> Path:
    """Write a sentence-transformers folder for ``model`` (a run folder, a Hugging Face folder or
    ``baseline:me5-small``) at ``out_dir``; returns it.

    Built in a sibling folder and moved into place: an earlier export at ``out_dir`` is replaced; a
    non-empty folder that no export wrote is refused unless ``force``, and even then only the exported
    files are replaced (see :mod:`interlingua.io_safety`).
    """
    from interlingua.encoding import ME5, ME5_PREFIX, resolve_model, st_settings

    if pooling is not None and pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    out_dir = Path(out_dir).expanduser()
    check_export_dir(out_dir, force)
    kind, folder = resolve_model(model)
    if prefix is None and kind == "run":
        from interlingua.models.pretrained import load_run_config

        prefix = load_run_config(folder).model.text_prefix  # what training and `encode` put before every text
    if prefix is None:
        prefix = ME5_PREFIX if str(model) == ME5 else st_settings(folder)[1]
    tmp = staging_dir(out_dir)
    try:
        if kind == "run":
            run_pooling, max_length, note = _stage_run(folder, tmp, lang)
        else:
            run_pooling, max_length, note = _stage_hf(folder, tmp)
        _write_modules(tmp, pooling or run_pooling, max_length, prefix, note)
        publish_dir(tmp, out_dir, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _stage_run(run_dir: Path, tmp: Path, lang: str | None) -> tuple[str, int, str]:
    """The run as a Hugging Face folder in ``tmp``: (its pooling, max_seq_length, a README note)."""
    from interlingua.encoding import MAX_LENGTH_CAP
    from interlingua.models.hf import export_model
    from interlingua.models.pretrained import load_run

    model, vocab, cfg = load_run(run_dir)
    note = ""
    if cfg.model.lang_embeddings:
        if lang not in vocab.langs:
            raise ConfigError(f"{run_dir} has language embeddings, which a sentence-transformers model cannot take "
                              f"as input: pass --lang, one of {', '.join(vocab.langs)} (got {lang!r})")
        with torch.no_grad():
            table = model.encoder.embeddings.lang.weight  # (n_langs, D)
            table.copy_(table[vocab.langs.index(lang)].expand_as(table).clone())
        note = f"\nEvery row of the language table is `{lang}`'s: this folder encodes {lang} text.\n"
    export_model(model, run_dir / "tokenizer", tmp, langs=vocab.langs)
    _ensure_special_tokens(tmp / "tokenizer.json", vocab.cls_id, vocab.sep_id)
    return cfg.eval.pooling, min(cfg.model.max_positions, MAX_LENGTH_CAP), note


def _ensure_special_tokens(tokenizer_file: Path, cls_id: int, sep_id: int) -> None:
    """Runs are fed ``<s> x </s>`` by the collators; make the exported tokenizer add them too."""
    from tokenizers import Tokenizer, processors

    tok = Tokenizer.from_file(str(tokenizer_file))
    ids = tok.encode("x", add_special_tokens=True).ids
    if ids and ids[0] == cls_id and ids[-1] == sep_id:
        return
    cls, sep = tok.id_to_token(cls_id), tok.id_to_token(sep_id)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} {sep} $B {sep}", special_tokens=[(cls, cls_id), (sep, sep_id)]
    )
    tok.save(str(tokenizer_file))


def _stage_hf(folder: Path, tmp: Path) -> tuple[str, int, str]:
    """A copy of the folder's top-level files in ``tmp``: (pooling, max_seq_length, a README note); the
    pooling is mean unless the folder already is a sentence-transformers folder with another."""
    from interlingua.encoding import st_settings, default_max_length

    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name not in ("README.md", EXPORT_MARKER):
            shutil.copy2(f, tmp / f.name)
    readme = folder / "README.md"
    note = f"\n## The source model ({folder.name})\n\n{readme.read_text(encoding='utf-8')}" if readme.is_file() else ""
    hf = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tok_cfg = folder / "tokenizer_config.json"
    tok_max = json.loads(tok_cfg.read_text(encoding="utf-8")).get("model_max_length") if tok_cfg.is_file() else None
    st_pooling, _, st_max = st_settings(folder)
    return st_pooling or "mean", st_max or default_max_length(tok_max, hf.get("max_position_embeddings")), note


def _write_modules(tmp: Path, pooling: str, max_length: int, prefix: str, note: str) -> None:
    hf = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
    dim = hf["hidden_size"]
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": TRANSFORMER},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": NORMALIZE},
    ]
    bert = {"max_seq_length": max_length, "do_lower_case": False}
    if hf.get("model_type") in _POOLER_TYPES:
        bert["model_args"] = {"add_pooling_layer": False}
    pool_cfg = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    st_cfg = {
        "prompts": {"query": prefix} if prefix else {},
        "default_prompt_name": "query" if prefix else None,
        "similarity_fn_name": "cosine",
    }
    (tmp / "1_Pooling").mkdir()
    (tmp / "2_Normalize").mkdir()
    files = {
        "modules.json": modules, "sentence_bert_config.json": bert, "1_Pooling/config.json": pool_cfg,
        "config_sentence_transformers.json": st_cfg,
    }
    for name, content in files.items():
        (tmp / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(_readme(pooling, max_length, prefix, note), encoding="utf-8")


def _readme(pooling: str, max_length: int, prefix: str, note: str) -> str:
    prompt = f"The default prompt `{prefix}` is put before every sentence.\n" if prefix else ""
    return (
        "# Sentence encoder exported by interlingua\n\n"
        "```python\nfrom sentence_transformers import SentenceTransformer\n"
        "model = SentenceTransformer(\"path/to/this/folder\")\n"
        "vectors = model.encode([\"Hallo Welt\", \"Hello world\"])\n```\n\n"
        f"{pooling} pooling over at most {max_length} tokens, then L2 normalisation.\n{prompt}"
        "`interlingua.encode(\"path/to/this/folder\", sentences, quantize=False)` gives the same vectors.\n"
        f"{note}"
    )
