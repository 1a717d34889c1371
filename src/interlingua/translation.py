"""Translate with a trained encoder-decoder run: ``interlingua translate`` and the BLEU evaluator build on it.

:class:`Translator` batches sentences by length (less padding), runs :func:`interlingua.models.generate.generate`
and detokenises with the run's tokenizer. Languages are ISO 639-3 codes of the run's language table.

Sources are read up to the model's ``max_positions`` tokens (``<s>``/``</s>`` included), not the run's
``data.max_len``: a longer test sentence is translated whole rather than cut, though past ``data.max_len`` it
uses positions past what the run trained on. Both cases are counted in a warning; only the first truncates.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from interlingua.data.pair_batches import encode_side
from interlingua.errors import ConfigError
from interlingua.models.generate import SearchConfig, Special, generate
from interlingua.models.seq2seq import decoder_of


@dataclass
class Translator:
    model: torch.nn.Module
    vocab: object
    max_len: int
    """Source tokens the encoder reads, ``<s>`` and ``</s>`` included (the model's ``max_positions``)."""
    name: str
    trained_len: int | None = None
    """The run's ``data.max_len``: longer sources use positions past what the run trained on."""

    def warn_long(self, ids: list[list[int]], src_lang: str) -> None:
        """Warn, with counts, about sources cut to ``max_len`` and sources read past ``trained_len``."""
        room = self.max_len - 2  # <s> x </s>
        cut = sum(len(x) > room for x in ids)
        if cut:
            warnings.warn(f"{self.name}: {cut} of {len(ids)} {src_lang} sources are longer than the model's "
                          f"{room} tokens and were truncated", stacklevel=3)
        if self.trained_len is not None and self.trained_len < self.max_len:
            past = sum(len(x) > self.trained_len - 2 for x in ids) - cut
            if past:
                warnings.warn(f"{self.name}: {past} of {len(ids)} {src_lang} sources are longer than the run's "
                              f"data.max_len={self.trained_len}: translated whole, with positions past what it "
                              "trained on", stacklevel=3)

    def lang_row(self, lang: str) -> int:
        if lang not in self.vocab.langs:
            raise ConfigError(f"{self.name} knows {', '.join(self.vocab.langs)}, not {lang!r}")
        return self.vocab.lang_index(lang)

    def translate(self, sentences: list[str], src_lang: str, tgt_lang: str, *, beam: int = 1,
                  length_penalty: float = 1.0, batch_size: int = 32, progress: bool = False) -> list[str]:
        """One output line per input sentence, in input order."""
        src, tgt = self.lang_row(src_lang), self.lang_row(tgt_lang)
        ids = self.vocab.encode(sentences)
        self.warn_long(ids, src_lang)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[str] = [""] * len(ids)
        special = Special(self.vocab.cls_id, self.vocab.sep_id, self.vocab.pad_id)
        search = SearchConfig(beam=beam, length_penalty=length_penalty)
        starts = range(0, len(order), batch_size)
        for s in tqdm(starts, desc=f"translate {src_lang}→{tgt_lang}", unit="batch", disable=not progress):
            rows = order[s:s + batch_size]
            batch = encode_side([(ids[i], src) for i in rows], self.vocab, self.max_len)
            for i, toks in zip(rows, generate(self.model, batch, tgt, special, search)):
                out[i] = self.vocab.tokenizer.decode(toks, skip_special_tokens=True).strip()
        return out


def load_translator(run_dir: str | Path, threads: int | None = None) -> Translator:
    """A run folder trained with a generation objective (its model has the ``decoder`` head)."""
    from interlingua.models.pretrained import load_run

    model, vocab, cfg = load_run(Path(run_dir))
    decoder_of(model)  # a clear error for an encoder-only run
    if threads:
        torch.set_num_threads(threads)
    return Translator(model.eval(), vocab, cfg.model.max_positions, Path(run_dir).name, cfg.data.max_len)
