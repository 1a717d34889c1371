"""Training objectives, one per file, registered by name (the name is also the YAML key).

Every module of this package is imported here for its ``@register`` side effect, so a new objective is
its file alone (docs/adding-an-objective.md)."""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
