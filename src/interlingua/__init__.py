"""interlingua: pre-train, fine-tune, evaluate and serve multilingual transformers."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["encode", "load_encoder"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import interlingua` does not import torch and transformers.
    if name in __all__:
        from interlingua import encoding

        return getattr(encoding, name)
    raise AttributeError(f"module 'interlingua' has no attribute {name!r}")
