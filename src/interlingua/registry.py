"""Name -> (class, config dataclass) registries for objectives, corpora and evaluators.

Modelled on fairseq's ``register_criterion``: each objective module decorates its class with
``@register("objective", "mlm", MLMConfig)`` and the name doubles as the YAML key of its config.
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


_REGISTRIES: dict[str, dict[str, Entry]] = {}
# Modules imported lazily the first time a kind is looked up, so registration happens on demand.
_PROVIDERS: dict[str, str] = {"objective": "interlingua.objectives"}


def register(kind: str, name: str, config: type | None = None) -> Callable[[Any], Any]:
    """Class decorator: ``@register("objective", "mlm", MLMConfig)``."""

    def wrap(cls: Any) -> Any:
        table = _REGISTRIES.setdefault(kind, {})
        if name in table and table[name].cls is not cls:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = Entry(name, cls, config)
        return cls

    return wrap


def _table(kind: str) -> dict[str, Entry]:
    if kind in _PROVIDERS:
        importlib.import_module(_PROVIDERS[kind])
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
