"""Name -> (class, config dataclass) registries for objectives, corpora and evaluators.

Modelled on fairseq's ``register_criterion``: each objective module decorates its class with
``@register("objective", "mlm", MLMConfig)`` and the name doubles as the YAML key of its config.
Evaluators are functions ``fn(embedder, langs, **options) -> result dict``, registered with a one-line
description (``@register("evaluator", "tatoeba", description=...)``); ``interlingua eval TASK`` takes its
choices from them.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from interlingua.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    name: str
    cls: Any
    config: type | None
    description: str = ""


_REGISTRIES: dict[str, dict[str, Entry]] = {}
# Modules imported lazily the first time a kind is looked up, so registration happens on demand.
_PROVIDERS: dict[str, str | tuple[str, ...]] = {
    "objective": "interlingua.objectives",
    "data": "interlingua.data.loaders",
    "evaluator": ("interlingua.evaluation.tasks", "interlingua.evaluation.bucc", "interlingua.evaluation.sib200",
                  "interlingua.evaluation.align", "interlingua.evaluation.suite", "interlingua.evaluation.bleu"),
}


def register(kind: str, name: str, config: type | None = None, description: str = "") -> Callable[[Any], Any]:
    """Class (or function) decorator: ``@register("objective", "mlm", MLMConfig)``."""

    def wrap(cls: Any) -> Any:
        table = _REGISTRIES.setdefault(kind, {})
        if name in table and table[name].cls is not cls:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = Entry(name, cls, config, description)
        return cls

    return wrap


def _table(kind: str) -> dict[str, Entry]:
    providers = _PROVIDERS.get(kind, ())
    for module in (providers,) if isinstance(providers, str) else providers:
        importlib.import_module(module)
    return _REGISTRIES.get(kind, {})


def get(kind: str, name: str) -> Entry:
    table = _table(kind)
    if name not in table:
        close = difflib.get_close_matches(name, table, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}.{hint}")
    return table[name]


def names(kind: str) -> list[str]:
    return sorted(_table(kind))
