"""One subword vocabulary for every language, trained on language-smoothed samples.

The model is byte-fallback-free BPE over SentencePiece-style ``▁`` word boundaries (``tokenizers``
``Metaspace``) after NFKC normalisation. Special tokens follow XLM-R's order (``<s>`` 0, ``<pad>`` 1,
``</s>`` 2, ``<unk>`` 3, ``<mask>`` 4), then one ``<lang_xxx>`` tag per language. The folder written by
:func:`train_vocab` holds ``tokenizer.json`` plus the files ``transformers.PreTrainedTokenizerFast``
(and ``AutoTokenizer``) need to load it.
"""
from __future__ import annotations

import functools

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from interlingua.data.sampling import smoothed_probs
from interlingua.errors import CheckpointError, CorpusError

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def lang_tag(lang: str) -> str:
    return f"<lang_{lang}>"


@dataclass
class Vocab:
    """A loaded tokenizer plus the ids the collators need."""

    tokenizer: Tokenizer
    langs: list[str] = field(default_factory=list)
    prefix: str = ""
    """Text put before every input (``model.text_prefix``, e.g. e5's ``query: ``)."""

    def __post_init__(self) -> None:
        ids = {tok: self.tokenizer.token_to_id(tok) for tok in SPECIALS}
        missing = [tok for tok, i in ids.items() if i is None]
        if missing:
            raise CheckpointError(f"tokenizer lacks special tokens {missing}: interlingua needs an XLM-R-style "
                                  "vocabulary (<s> <pad> </s> <unk> <mask>); BERT's [CLS]/[SEP] vocabularies are not supported yet")
        self.cls_id, self.pad_id, self.sep_id, self.unk_id, self.mask_id = (ids[t] for t in SPECIALS)
        self.size = self.tokenizer.get_vocab_size()
        self.special_ids = sorted(set(ids.values()) | {self.tokenizer.token_to_id(lang_tag(l)) for l in self.langs} - {None})

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Subword ids without special tokens."""
        if self.prefix:
            texts = [self.prefix + t for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    @property
    def prefix_ids(self) -> list[int]:
        """The tokens ``prefix`` puts before every sentence (the tokens two different texts share at the start)."""
        if not self.prefix:
            return []
        cached = getattr(self, "_prefix_ids", None)
        if cached is None or cached[0] != self.prefix:  # the prefix may be replaced (``encode(run, prefix=…)``)
            a, b = self.encode(["a b", "x y"])
            n = next((k for k, (s, t) in enumerate(zip(a, b)) if s != t), min(len(a), len(b)))
            self._prefix_ids = cached = (self.prefix, a[:n])
        return cached[1]

    def strip_prefix(self, ids: list[int]) -> list[int]:
        """``ids`` without the leading ``prefix_ids`` (sentences joined or aligned word by word want it once)."""
        pre = self.prefix_ids
        return list(ids[len(pre):]) if pre and list(ids[:len(pre)]) == pre else list(ids)

    @functools.cached_property
    def word_starts(self) -> list[bool]:
        """Per token id: does it begin a word? Metaspace pieces mark a word start with ``▁``; a vocabulary
        without such pieces (word-level) makes every token a word."""
        tokens = [self.tokenizer.id_to_token(i) or "" for i in range(self.size)]
        marked = [t.startswith("\u2581") for t in tokens]
        return marked if any(marked) else [True] * self.size

    def lang_index(self, lang: str) -> int:
        """Row of the language-embedding table (0 when the language is unknown)."""
        return self.langs.index(lang) if lang in self.langs else 0


def _sample_corpus(texts_by_lang: dict[str, list[str]], alpha: float, total: int, seed: int) -> list[str]:
    """Up to ``total`` sentences drawn per language in proportion to p ∝ n^alpha."""
    probs = smoothed_probs({lang: len(t) for lang, t in texts_by_lang.items()}, alpha)
    rng = random.Random(seed)
    sample: list[str] = []
    for lang, texts in texts_by_lang.items():
        k = round(probs[lang] * total)
        # Small languages are up-sampled by repetition, as smoothed sampling intends.
        sample.extend(rng.choices(texts, k=k) if k > len(texts) else rng.sample(texts, k))
    rng.shuffle(sample)
    return sample


def _empty_tokenizer(langs: Iterable[str]) -> tuple[Tokenizer, list[str]]:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return tok, SPECIALS + [lang_tag(l) for l in langs]


def train_vocab(
    texts_by_lang: dict[str, list[str]],
    out_dir: Path,
    *,
    vocab_size: int = 32000,
    alpha: float = 0.7,
    sample_sentences: int = 200_000,
    seed: int = 0,
) -> Vocab:
    """Train BPE on a smoothed sample and save ``tokenizer.json`` + HF config files in ``out_dir``."""
    texts_by_lang = {lang: t for lang, t in texts_by_lang.items() if t}
    if not texts_by_lang:
        raise CorpusError("train_vocab: the corpus is empty, nothing to train a vocabulary on")
    langs = sorted(texts_by_lang)
    tok, specials = _empty_tokenizer(langs)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, min_frequency=2, show_progress=True
    )
    sample = _sample_corpus(texts_by_lang, alpha, sample_sentences, seed)
    tok.train_from_iterator(sample, trainer=trainer, length=len(sample))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("<s>", "</s>")],
    )
    save_vocab(tok, langs, out_dir)
    return Vocab(tok, langs)


def save_vocab(tok: Tokenizer, langs: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
        "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
        "additional_special_tokens": [lang_tag(l) for l in langs],
        "model_max_length": 512,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (out_dir / "special_tokens_map.json").write_text(
        json.dumps({k: v for k, v in config.items() if k.endswith("_token") or k.startswith("additional")}, indent=1),
        encoding="utf-8",
    )
    (out_dir / "langs.json").write_text(json.dumps(langs), encoding="utf-8")


def load_vocab(path: Path | str) -> Vocab:
    """Load from a ``tokenizer.json`` file or a folder holding one (and optionally ``langs.json``)."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.exists():
        raise CheckpointError(f"no tokenizer.json at {path}")
    langs_file = file.parent / "langs.json"
    langs = json.loads(langs_file.read_text(encoding="utf-8")) if langs_file.exists() else []
    try:
        return Vocab(Tokenizer.from_file(str(file)), langs)
    except CheckpointError as exc:
        raise CheckpointError(f"{file}: {exc}") from None
