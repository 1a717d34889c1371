from __future__ import annotations

import pytest

from interlingua.config import RECIPES_DIR, load_config
from interlingua.errors import ConfigError


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
def test_every_recipe_loads(recipe):
    from interlingua import registry

    cfg = load_config(recipe)
    assert cfg.name == recipe
    for name, ocfg in cfg.objectives.items():  # every objective resolves to its registered config type
        assert isinstance(ocfg, registry.get("objective", name).config)


def test_recipe_contents():
    xlm, xlmr, mbert = load_config("xlm"), load_config("xlmr"), load_config("mbert")
    assert set(xlm.objectives) == {"mlm", "clm", "tlm"} and xlm.model.lang_embeddings
    assert set(xlmr.objectives) == {"mlm"} and not xlmr.model.lang_embeddings and xlmr.data.alpha == 0.3
    assert xlmr.data.vocab_size > xlm.data.vocab_size
    assert set(mbert.objectives) == {"mlm", "nsp"} and mbert.model.n_segments == 2


def test_overrides_are_typed():
    cfg = load_config("xlm", ["train.lr=1e-3", "data.langs=deu,fra", "objectives.tlm.mask_prob=0.2", "train.steps=7"])
    assert cfg.train.lr == 0.001 and cfg.data.langs == ["deu", "fra"] and cfg.train.steps == 7
    assert cfg.objectives["tlm"].mask_prob == 0.2


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=1", "train.lrr (did you mean train.lr?)"),
        ("train.steps=ten", "train.steps: expected int"),
        ("objectives.mlmm.weight=1", "unknown objective 'mlmm'"),
        ("model.d_model=250", "not divisible by model.n_heads"),
        ("data.alpha=1.5", "data.alpha must lie in [0, 1]"),
        ("train", "key.sub=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=None) as err:
        load_config("xlm", [override])
    assert message in str(err.value)


def test_unknown_recipe_lists_known():
    with pytest.raises(ConfigError, match="xlmr"):
        load_config("xlm-r")
