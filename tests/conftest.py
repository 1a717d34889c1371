from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from interlingua.config import ModelConfig
from interlingua.models.heads import PretrainModel
from interlingua.tokenization.vocab import SPECIALS, Vocab, lang_tag

torch.set_num_threads(1)

WORDS = "the a cat dog house red blue big small runs sleeps der die das katze hund haus rot blau le la chat chien maison".split()


@pytest.fixture
def vocab() -> Vocab:
    """A word-level vocabulary: 5 specials, 3 language tags, then WORDS (ids 8..)."""
    langs = ["deu", "eng", "fra"]
    table = {tok: i for i, tok in enumerate(SPECIALS + [lang_tag(l) for l in langs] + WORDS)}
    tok = Tokenizer(models.WordLevel(table, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return Vocab(tok, langs)


def tiny_model(vocab_size: int, heads=("lm",), **kw) -> PretrainModel:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=vocab_size, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_positions=64,
                      dropout=0.0, attn_dropout=0.0, **kw)
    return PretrainModel(cfg, heads)
