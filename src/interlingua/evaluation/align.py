"""``interlingua eval align``: word alignment from a layer's contextual subword vectors, scored by AER.

Each side of a sentence pair goes through the model on its own, as SimAlign and awesome-align do:

1. every word (the gold's tokens, split on U+0020 only) is tokenized alone, its subwords are concatenated and
   framed by the model's special tokens (``<s> ... </s>`` / ``[CLS] ... [SEP]``), so subword k belongs to a known
   word; a word with no subwords can get no link;
2. the hidden states of layer K (0 = the embedding output, K = block K; Hugging Face's ``hidden_states[K]``)
   are taken at the subword positions, special tokens left out;
3. an (m, n) matrix between source and target subwords goes to :mod:`~interlingua.evaluation.word_alignment`:
   ``argmax`` / ``itermax`` on (cos + 1) / 2 (SimAlign's similarity; argmax is the same on plain cosine),
   ``softmax`` on raw dot products with threshold 1e-3 (awesome-align, whose softmax temperature is the
   vectors' scale; on cosines every softmax would be near uniform);
4. a word pair is linked when any of their subwords are; AER, precision and recall sum over the corpus.

No prompt is put before the words, not even me5-small's ``query: ``: e5's prefix asks for a sentence vector for
retrieval, SimAlign and awesome-align feed bare text (so the cross-check in ``benchmarks/align_vs_simalign.py``
compares like with like), and its tokens would sit in every subword's context without being aligned.

Default layer: ``round(2 L / 3)`` of an L-layer model, which is 8 of 12 (SimAlign's and awesome-align's choice
for mBERT and XLM-R base); ``layer="all"`` sweeps 0..L, reports the layer with the lowest mean AER over the
pairs and keeps every layer's scores in ``by_layer`` (``interlingua eval`` plots them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import numpy as np
import torch
from tqdm.auto import tqdm

from interlingua import registry
from interlingua.data.paths import corpus_file, list_codes
from interlingua.encoding import SentenceEncoder, pad_batch
from interlingua.errors import ConfigError, CorpusError, NotApplicable
from interlingua.evaluation.tasks import cli_flag
from interlingua.evaluation.word_alignment import (
    AlignmentCounts,
    GoldPair,
    Link,
    argmax_links,
    itermax_links,
    read_gold,
    softmax_links,
    word_links,
)

DEFAULT_PAIRS = ("eng-fra", "ron-eng")
METHODS = ("argmax", "itermax", "softmax")
COLUMNS = (("aer", "AER"), ("precision", "P"), ("recall", "R"))
SCORE = ("aer", "alignment error rate (%), lower is better")
_FOLDER = "word_alignment"
_PAIR_NAME = re.compile(r"^([a-z]{3})-([a-z]{3})$")


@dataclass(frozen=True)
class Subwords:
    """One side as the model sees it: ``ids`` with special tokens; subword k sits at ``start + k`` and
    belongs to word ``word_of[k]``."""

    ids: list[int]
    start: int
    word_of: list[int]


def special_frame(encoder: SentenceEncoder) -> tuple[list[int], list[int]]:
    """(leading, trailing) special-token ids the encoder's tokenizer puts around any text, e.g. ([0], [2]).

    Read off the tokenization of the empty text, split where the tokenization of "a" starts to differ.
    """
    frame, probe = encoder.tokenize(["", "a"])
    head = 0
    while head < len(frame) and head < len(probe) and frame[head] == probe[head]:
        head += 1
    tail = frame[head:]
    if len(probe) <= len(frame) or probe[len(probe) - len(tail):] != tail:  # text, not specials, around the input
        raise ConfigError(f"{encoder.name}: cannot tell which special tokens its tokenizer puts around a text "
                          f"('' -> {frame}, 'a' -> {probe}); word alignment needs bare words framed by specials")
    return frame[:head], tail


def to_subwords(encoder: SentenceEncoder, sentences: list[list[str]]) -> tuple[list[Subwords], int]:
    """Each word tokenized alone, then framed; also how many sentences were cut to ``encoder.max_length``."""
    head, tail = special_frame(encoder)
    words = sorted({w for s in sentences for w in s})
    pieces = {w: ids[len(head): len(ids) - len(tail)] for w, ids in zip(words, encoder.tokenize(words))}
    room = encoder.max_length - len(head) - len(tail)
    out, truncated = [], 0
    for sentence in sentences:
        ids = [t for w in sentence for t in pieces[w]]
        word_of = [i for i, w in enumerate(sentence) for _ in pieces[w]]
        truncated += len(ids) > room
        out.append(Subwords([*head, *ids[:room], *tail], len(head), word_of[:room]))
    return out, truncated


def num_layers(encoder: SentenceEncoder) -> int:
    layers = getattr(encoder.module, "layers", None)  # interlingua's Encoder
    return len(layers) if layers is not None else int(encoder.module.config.num_hidden_layers)


def default_layer(n_layers: int) -> int:
    """About 2/3 of the depth: 8 of 12 (SimAlign's layer for mBERT), 4 of 6, 16 of 24."""
    return max(1, round(2 * n_layers / 3))


def parse_layers(layer: int | str | None, n_layers: int) -> list[int]:
    """The layers to score: the default one, ``all`` (0..L), or one K in 0..L."""
    if layer is None:
        return [default_layer(n_layers)]
    if str(layer) == "all":
        return list(range(n_layers + 1))
    try:
        k = int(layer)
    except ValueError:
        raise ConfigError(f"--layer must be an integer 0..{n_layers} or 'all', got {layer!r}") from None
    if not 0 <= k <= n_layers:
        raise ConfigError(f"--layer {k}: this model has layers 0 (embeddings) to {n_layers}")
    return [k]


def hidden_states(encoder: SentenceEncoder, input_ids: torch.Tensor, mask: torch.Tensor,
                  row: int | None) -> list[torch.Tensor]:
    """Every layer's (B, T, D) hidden states, embedding output first: interlingua's Encoder or a transformers model."""
    from interlingua.models.encoder import Encoder

    module = encoder.module
    if isinstance(module, Encoder):
        lang_ids = None if row is None else torch.full_like(input_ids, row)
        return module(input_ids, mask, lang_ids=lang_ids, output_hidden_states=True).hidden_states
    return list(module(input_ids=input_ids, attention_mask=mask.long(), output_hidden_states=True).hidden_states)


def layer_vectors(encoder: SentenceEncoder, batch: list[Subwords], row: int | None,
                  layers: list[int]) -> list[np.ndarray]:
    """Per sentence, its subwords' (len(layers), n_subwords, D) float32 vectors (special tokens dropped)."""
    input_ids, mask = pad_batch([s.ids for s in batch], encoder.pad_id)
    with torch.inference_mode():
        states = hidden_states(encoder, input_ids.to(encoder.device), mask.to(encoder.device), row)
        stacked = torch.stack([states[k] for k in layers], dim=1).float().cpu().numpy()  # (B, K, T, D)
    return [stacked[b, :, s.start: s.start + len(s.word_of)] for b, s in enumerate(batch)]


def extract(method: str, x: np.ndarray, y: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """(m, n) bool subword links between (m, D) source and (n, D) target vectors."""
    if method == "softmax":
        return softmax_links(x.astype(np.float64) @ y.T.astype(np.float64), threshold)
    x = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    y = y / np.linalg.norm(y, axis=1, keepdims=True).clip(1e-12)
    sim = (x @ y.T + 1.0) / 2.0  # SimAlign's similarity, in [0, 1]
    return argmax_links(sim) if method == "argmax" else itermax_links(sim)


def predict_links(encoder: SentenceEncoder, gold: list[GoldPair], langs: tuple[str | None, str | None],
                  layers: list[int], method: str, threshold: float = 1e-3, batch_size: int = 64,
                  progress: bool = False, desc: str = "align") -> tuple[dict[int, list[set[Link]]], int]:
    """Per layer, the predicted word links of every sentence pair; and how many sides were cut to the model's length."""
    src, cut_src = to_subwords(encoder, [p.src for p in gold])
    tgt, cut_tgt = to_subwords(encoder, [p.tgt for p in gold])
    rows = encoder.lang_row(langs[0]), encoder.lang_row(langs[1])
    links: dict[int, list[set[Link]]] = {k: [] for k in layers}
    for start in tqdm(range(0, len(gold), batch_size), desc=desc, unit="batch", disable=not progress):
        chunk = range(start, min(start + batch_size, len(gold)))
        xs = layer_vectors(encoder, [src[i] for i in chunk], rows[0], layers)
        ys = layer_vectors(encoder, [tgt[i] for i in chunk], rows[1], layers)
        for i, x, y in zip(chunk, xs, ys):
            for li, k in enumerate(layers):
                found = set()
                if x.shape[1] and y.shape[1]:
                    found = word_links(extract(method, x[li], y[li], threshold), src[i].word_of, tgt[i].word_of)
                links[k].append(found)
    return links, cut_src + cut_tgt


def align_set(encoder: SentenceEncoder, gold: list[GoldPair], langs: tuple[str | None, str | None],
              layers: list[int], method: str, threshold: float, batch_size: int,
              progress: bool = False, desc: str = "align") -> tuple[dict[int, AlignmentCounts], int]:
    """Corpus counts per layer for one gold set, and how many sides were cut to the model's length."""
    links, cut = predict_links(encoder, gold, langs, layers, method, threshold, batch_size, progress, desc)
    counts = {k: AlignmentCounts() for k in layers}
    for k, predicted in links.items():
        for found, pair in zip(predicted, gold):
            counts[k].add(found, pair.sure, pair.possible)
    return counts, cut


def alignment_examples(encoder: SentenceEncoder, gold: list[GoldPair], langs: tuple[str | None, str | None],
                       layer: int, method: str, threshold: float = 1e-3, n: int = 3,
                       words: tuple[int, int] = (5, 14)) -> list[dict]:
    """The first ``n`` pairs with ``words[0]``..``words[1]`` words a side (else the shortest), for a heatmap: words,
    the word-level cosine (the best over their subwords), predicted links and gold sure / possible links
    (0-based [i, j])."""
    fits = [p for p in gold if all(words[0] <= len(side) <= words[1] for side in (p.src, p.tgt))]
    picked = (fits or sorted(gold, key=lambda p: max(len(p.src), len(p.tgt))))[:n]
    if not picked:
        return []
    (src, _), (tgt, _) = to_subwords(encoder, [p.src for p in picked]), to_subwords(encoder, [p.tgt for p in picked])
    rows = encoder.lang_row(langs[0]), encoder.lang_row(langs[1])
    xs, ys = layer_vectors(encoder, src, rows[0], [layer]), layer_vectors(encoder, tgt, rows[1], [layer])
    out = []
    for pair, s, t, x, y in zip(picked, src, tgt, xs, ys):
        x, y = x[0], y[0]  # (m, D), (n, D) subwords
        if not (x.shape[0] and y.shape[0]):
            continue
        cos = (x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)) @ \
              (y / np.linalg.norm(y, axis=1, keepdims=True).clip(1e-12)).T  # (m, n)
        best = np.full((len(pair.src), len(pair.tgt)), np.nan)
        for a, b in np.ndindex(cos.shape):
            i, j = s.word_of[a], t.word_of[b]
            best[i, j] = cos[a, b] if np.isnan(best[i, j]) else max(best[i, j], cos[a, b])
        links = word_links(extract(method, x, y, threshold), s.word_of, t.word_of)
        out.append({"src": pair.src, "tgt": pair.tgt, "similarity": np.round(np.nan_to_num(best), 3).tolist(),
                    "links": sorted(map(list, links)), "sure": sorted(map(list, pair.sure)),
                    "possible": sorted(map(list, pair.possible - pair.sure))})
    return out


def _shared_sets(pairs: list[str] | str | None) -> dict[str, tuple[Path, Path]]:
    if isinstance(pairs, str):
        pairs = [p for p in pairs.split(",") if p]
    known = list_codes(_FOLDER, ".gold.txt.gz")
    sets = {}
    for pair in pairs if pairs is not None else DEFAULT_PAIRS:
        if pair not in known:
            raise ConfigError(f"align: no shared gold set {pair!r}; known: {', '.join(known)} (or --data PREFIX)")
        sets[pair] = (corpus_file(f"{_FOLDER}/{pair}.src-tgt.txt.gz"), corpus_file(f"{_FOLDER}/{pair}.gold.txt.gz"))
    return sets


def data_files(prefix: str | Path) -> tuple[Path, Path]:
    """``PREFIX.src-tgt.txt`` and ``PREFIX.gold.txt``, each also as ``.txt.gz`` (the gzipped file wins)."""

    def one(kind: str) -> Path:
        for suffix in (f".{kind}.txt.gz", f".{kind}.txt"):
            path = Path(f"{prefix}{suffix}").expanduser()
            if path.is_file():
                return path
        raise CorpusError(f"--data {prefix}: neither {prefix}.{kind}.txt.gz nor {prefix}.{kind}.txt exists")

    return one("src-tgt"), one("gold")


def pair_langs(name: str) -> tuple[str | None, str | None]:
    """(src, tgt) ISO 639-3 codes from a set named ``xxx-yyy``, for models with language embeddings."""
    match = _PAIR_NAME.match(name)
    return (match[1], match[2]) if match else (None, None)


def _percent(counts: AlignmentCounts) -> dict[str, float]:
    return {m: 100 * v for m, v in counts.scores().items()}


def _layer_scores(per_set: dict[str, dict[int, AlignmentCounts]], k: int) -> dict:
    langs = {name: _percent(counts[k]) for name, counts in per_set.items()}
    return {"langs": langs, "average": {m: fmean(s[m] for s in langs.values()) for m, _ in COLUMNS}}


@cli_flag("--pairs", help="align: shared gold sets, comma-separated (default eng-fra,ron-eng; none when only --data)")
@cli_flag("--data", help="align: another gold set PREFIX, read from PREFIX.src-tgt.txt[.gz] ('src ||| tgt' lines, "
                         "tokens split on single spaces) and PREFIX.gold.txt[.gz] (1-based i-j sure, i-p-j possible); "
                         "named after PREFIX's last part, whose xxx-yyy gives the languages")
@cli_flag("--method", choices=METHODS, help="align: argmax (SimAlign inter), itermax (SimAlign), softmax "
                                            "(awesome-align, threshold --softmax-threshold); default argmax")
@cli_flag("--layer", help="align: hidden layer K (0 = embeddings) or 'all' to sweep every layer and report the best; "
                          "default round(2L/3), 8 of 12")
@cli_flag("--softmax-threshold", type=float, help="align --method softmax: link probability threshold (default 1e-3)")
@registry.register("evaluator", "align", description="word alignment from contextual subword vectors (SimAlign / "
                                                     "awesome-align), AER")
def evaluate_alignment(embedder: object, langs: list[str] | None = None, *, pairs: list[str] | str | None = None,
                       data: str | None = None, method: str = "argmax", layer: int | str | None = None,
                       softmax_threshold: float = 1e-3, max_sentences: int | None = None,
                       examples: int = 0, progress: bool = True) -> dict:
    """AER, precision and recall (percent) per gold set, of links extracted from layer ``layer``.

    ``pairs``: shared sets (``eng-fra``, ``ron-eng``; default both unless only ``data`` is given); ``data``: a
    PREFIX (see :func:`data_files`); ``max_sentences``: the first N pairs of each set. ``langs`` is refused: gold
    sets are chosen by name. Result keys as the other evaluators (``langs`` holds the sets), plus ``layer`` (the
    one reported), ``method``, and with ``layer="all"`` ``by_layer``: layer -> {langs, average}; ``examples=N``: ``examples`` (set -> :func:`alignment_examples` of
    N pairs at the reported layer). Metrics
    ``align/<set>/{aer,precision,recall}``, ``align/average/...`` and, when sweeping, ``align/layer<K>/<set>/aer``.
    """
    if langs:
        raise ConfigError("align: choose gold sets with --pairs (eng-fra,ron-eng) or --data PREFIX, not --langs")
    if method not in METHODS:
        raise ConfigError(f"align: --method must be one of {', '.join(METHODS)}, got {method!r}")
    if max_sentences is not None and max_sentences < 1:
        raise ConfigError(f"max_sentences must be positive, got {max_sentences}")
    encoder = getattr(embedder, "encoder", embedder)
    if not isinstance(encoder, SentenceEncoder):
        raise NotApplicable(f"align needs a transformer's hidden states: a run folder, a Hugging Face folder or "
                          f"baseline:me5-small, not {getattr(embedder, 'name', embedder)!r}")
    batch_size = int(getattr(embedder, "options", {}).get("batch_size", 64))
    layers = parse_layers(layer, num_layers(encoder))
    sets = _shared_sets(pairs) if pairs is not None or data is None else {}
    if data is not None:
        sets[Path(data).name] = data_files(data)
    per_set, info, golds = {}, {}, {}
    for name, (text_path, gold_path) in sets.items():
        golds[name] = gold = read_gold(text_path, gold_path)[:max_sentences]
        per_set[name], cut = align_set(encoder, gold, pair_langs(name), layers, method, softmax_threshold,
                                       batch_size, progress, desc=f"align {name} [{getattr(embedder, 'name', '')}]")
        info[name] = {"n": len(gold), "sure_links": per_set[name][layers[0]].sure, "truncated": cut}
    model = getattr(embedder, "name", encoder.name)
    result = {"task": "align", "model": model, **_result(per_set, info, layers, num_layers(encoder), method)}
    if examples:
        result["examples"] = {name: alignment_examples(encoder, gold, pair_langs(name), result["layer"], method,
                                                       softmax_threshold, examples) for name, gold in golds.items()}
    if method == "softmax":
        result["softmax_threshold"] = softmax_threshold
    return result


def _result(per_set: dict[str, dict[int, AlignmentCounts]], info: dict[str, dict], layers: list[int],
            n_layers: int, method: str) -> dict:
    """The evaluator's result from every set's counts per layer: the layer with the lowest mean AER reported."""
    sweep = {k: _layer_scores(per_set, k) for k in layers}
    best = min(layers, key=lambda k: sweep[k]["average"]["aer"])
    scores = sweep[best]
    per_lang = {name: {**s, "links": per_set[name][best].predicted, **info[name]}
                for name, s in scores["langs"].items()}
    metrics = {f"align/{name}/{m}": s[m] for name, s in scores["langs"].items() for m, _ in COLUMNS}
    metrics.update({f"align/average/{m}": scores["average"][m] for m, _ in COLUMNS})
    of = f"best of {layers[0]}-{layers[-1]}" if len(layers) > 1 else f"of {n_layers}"
    result = {"pivot": None, "method": method, "layer": best, "num_layers": n_layers,
              "langs": per_lang, "average": scores["average"], "columns": COLUMNS, "score": SCORE,
              "title": f"word alignment, {method}, layer {best} ({of})", "metrics": metrics}
    if len(layers) > 1:
        result["by_layer"] = {str(k): v for k, v in sweep.items()}
        metrics.update({f"align/layer{k}/{name}/aer": s["aer"]
                        for k, v in sweep.items() for name, s in v["langs"].items()})
    return result
