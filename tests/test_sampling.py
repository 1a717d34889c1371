from __future__ import annotations

import pytest
import torch

from interlingua.data.sampling import sample_languages, smoothed_probs
from interlingua.errors import ConfigError

COUNTS = {"a": 10_000_000, "b": 1_000_000, "c": 100_000}


def test_alpha_07_gives_80_16_3_percent():
    """10^(7·0.7) : 10^(6·0.7) : 10^(5·0.7) = 79433 : 15849 : 3162 -> 80.69 / 16.10 / 3.21 %."""
    p = smoothed_probs(COUNTS, 0.7)
    assert [round(100 * p[k], 2) for k in "abc"] == [80.69, 16.10, 3.21]


def test_alpha_04_gives_the_64_25_10_split():
    """10^2.8 : 10^2.4 : 10^2 = 631.0 : 251.2 : 100 -> 64.24 / 25.58 / 10.18 % (the seed's "α = 0.7" figures)."""
    p = smoothed_probs(COUNTS, 0.4)
    assert [round(100 * p[k], 2) for k in "abc"] == [64.24, 25.58, 10.18]


def test_alpha_limits():
    assert smoothed_probs(COUNTS, 0.0) == pytest.approx({k: 1 / 3 for k in COUNTS})
    assert smoothed_probs(COUNTS, 1.0)["c"] == pytest.approx(100_000 / 11_100_000)


def test_zero_counts_and_errors():
    assert smoothed_probs({"a": 4, "b": 0}, 0.5) == {"a": 1.0, "b": 0.0}
    with pytest.raises(ConfigError):
        smoothed_probs({}, 0.5)
    with pytest.raises(ConfigError):
        smoothed_probs({"a": 0}, 0.5)


def test_sampling_is_seeded_and_follows_probs():
    probs = {"x": 0.8, "y": 0.2}
    draw = sample_languages(probs, 20_000, torch.Generator().manual_seed(1))
    assert draw == sample_languages(probs, 20_000, torch.Generator().manual_seed(1))
    assert abs(draw.count("y") / len(draw) - 0.2) < 0.01
