"""Shared subword vocabulary: training (``tokenizers`` does the work) and loading."""
from interlingua.tokenization.vocab import Vocab, load_vocab, train_vocab

__all__ = ["Vocab", "load_vocab", "train_vocab"]
