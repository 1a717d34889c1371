"""Exponentially smoothed language sampling (mBERT, XLM, XLM-R).

    p_i = n_i^α / Σ_j n_j^α

α = 1 samples in proportion to corpus size, α = 0 uniformly over languages; mBERT and XLM use 0.7,
XLM-R 0.3. Worked example for 10M / 1M / 100K sentences: α = 0.7 gives 80.7 / 16.1 / 3.2 %, and
α = 0.4 gives 64.2 / 25.6 / 10.2 % (the "64/25/11 %" sometimes quoted for α = 0.7 is the α = 0.4 row).
"""
from __future__ import annotations

import torch

from interlingua.errors import ConfigError


def smoothed_probs(counts: dict[str, int], alpha: float) -> dict[str, float]:
    """Per-language sampling probabilities p_i ∝ n_i^alpha (languages with n_i = 0 get 0)."""
    if not counts:
        raise ConfigError("smoothed_probs: no languages given")
    if any(n < 0 for n in counts.values()):
        raise ConfigError(f"smoothed_probs: negative count in {counts}")
    weights = {lang: (float(n) ** alpha if n > 0 else 0.0) for lang, n in counts.items()}
    total = sum(weights.values())
    if total == 0:
        raise ConfigError("smoothed_probs: every language has zero segments")
    return {lang: w / total for lang, w in weights.items()}


def sample_languages(probs: dict[str, float], n: int, generator: torch.Generator) -> list[str]:
    """Draw n language names i.i.d. from ``probs`` with a seeded generator."""
    langs = list(probs)
    p = torch.tensor([probs[lang] for lang in langs], dtype=torch.float64)
    idx = torch.multinomial(p, n, replacement=True, generator=generator)
    return [langs[i] for i in idx.tolist()]
