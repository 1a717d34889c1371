"""Bitext retrieval benchmarks: Tatoeba (LASER's 112 languages, X-eng) and FLORES-200 devtest (X-pivot).

For every language pair both sides are embedded, each sentence retrieves its nearest neighbour by cosine
among all sentences of the other side, and top-1 accuracy is reported per direction (``xx2eng``,
``eng2xx``) and as their ``mean``, per language and macro-averaged over languages, as LASER and LaBSE
report Tatoeba. For FLORES the keys keep the names ``xx2eng`` / ``eng2xx`` with the pivot in place of
English.

Both are registered evaluators (``registry.get("evaluator", "tatoeba")``), as is ``bucc``
(:mod:`interlingua.evaluation.bucc`): ``fn(embedder, langs, **options) -> result`` where a result holds
``task``, ``model``, ``langs`` (per-language scores), ``average`` and ``metrics`` (flat metric paths).
:func:`evaluator` looks one up by name, with its options checked.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from statistics import fmean

from tqdm.auto import tqdm

from interlingua import registry
from interlingua.data.langcodes import flores_code, tatoeba_code, tatoeba_codes, to_iso3
from interlingua.data.paths import corpus_file, list_codes
from interlingua.data.readers import read_flores, read_line_aligned
from interlingua.errors import ConfigError, CorpusError
from interlingua.evaluation.embedders import Embedder
from interlingua.evaluation.retrieval import retrieval_scores

DIRECTIONS = ("xx2eng", "eng2xx", "mean")
_FLORES_DIR = "flores200/devtest"

PairLoader = Callable[[], tuple[list[str], list[str]]]


def evaluate_pair(embedder: Embedder, xx: list[str], eng: list[str], lang: str, pivot: str = "eng") -> dict:
    """Retrieval scores (percent) and ``n`` for one line-aligned pair; ``lang``/``pivot`` go to encode()."""
    if len(xx) != len(eng) or not xx:
        raise CorpusError(f"{lang}-{pivot}: sides must be non-empty and aligned, got {len(xx)} and {len(eng)} lines")
    fit = getattr(embedder, "fit", None)
    if callable(fit):
        fit(xx + eng)
    scores = retrieval_scores(embedder.encode(xx, lang), embedder.encode(eng, pivot))
    return {**scores, "n": len(xx)}


def _metrics(task: str, pivot: str, per_lang: dict[str, dict], average: dict[str, float]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for lang, scores in per_lang.items():
        metrics[f"{task}/{lang}-{pivot}/acc@1"] = scores["mean"]
        metrics[f"{task}/{lang}-{pivot}/xx2eng/acc@1"] = scores["xx2eng"]
        metrics[f"{task}/{lang}-{pivot}/eng2xx/acc@1"] = scores["eng2xx"]
    metrics[f"{task}/average/acc@1"] = average["mean"]
    metrics[f"{task}/average/xx2eng/acc@1"] = average["xx2eng"]
    metrics[f"{task}/average/eng2xx/acc@1"] = average["eng2xx"]
    return metrics


def _evaluate(
    task: str,
    embedder: Embedder,
    pairs: dict[str, tuple[str, PairLoader]],
    pivot: str,
    max_sentences: int | None,
    progress: bool,
) -> dict:
    """Shared loop; ``pairs`` maps result key -> (ISO 639-3 code passed to encode(), loader of both sides).

    Keys stay dataset codes (LASER's ``cmn``, ``kzj``, FLORES's ``deu_Latn``) or the code the caller
    gave, because folding to ISO 639-3 would merge distinct Tatoeba sets (``kzj`` and ``dtp``).
    """
    if max_sentences is not None and max_sentences < 1:
        raise ConfigError(f"max_sentences must be positive, got {max_sentences}")
    per_lang: dict[str, dict] = {}
    bar = tqdm(pairs.items(), desc=f"{task} [{embedder.name}]", unit="lang", disable=not progress)
    for key, (lang, load) in bar:
        bar.set_postfix_str(key)
        xx, eng = load()
        xx, eng = xx[:max_sentences], eng[:max_sentences]
        per_lang[key] = evaluate_pair(embedder, xx, eng, lang=lang, pivot=to_iso3(pivot) or pivot)
    average = {d: fmean(scores[d] for scores in per_lang.values()) for d in DIRECTIONS}
    return {
        "task": task,
        "model": embedder.name,
        "pivot": pivot,
        "max_sentences": max_sentences,
        "langs": per_lang,
        "average": average,
        "metrics": _metrics(task, pivot, per_lang, average),
    }


def _read_tatoeba_laser(code: str) -> tuple[list[str], list[str]]:
    """Both sides of the pair with this exact LASER code.

    Not ``read_tatoeba``: that one folds the code to ISO 639-3 first, and LASER's ``kzj`` folds to
    ``dtp``, which has its own Tatoeba set, so ``kzj`` would silently read the ``dtp`` files.
    """
    pairs = read_line_aligned(
        corpus_file(f"tatoeba/{code}-eng.{code}.txt.gz"), corpus_file(f"tatoeba/{code}-eng.eng.txt.gz")
    )
    return [x for x, _ in pairs], [e for _, e in pairs]


def _resolve_tatoeba(lang: str, available: list[str]) -> str:
    """LASER code for an ISO 639-3 code, or the LASER code itself when it is given directly."""
    if lang in available:
        return lang
    code = tatoeba_code(lang)
    if code is None:
        raise ConfigError(f"tatoeba: no data for language {lang!r}; known LASER codes: {' '.join(available)}")
    return code


@registry.register("evaluator", "tatoeba", description="Tatoeba bitext retrieval, top-1 accuracy")
def evaluate_tatoeba(
    embedder: Embedder, langs: list[str] | None = None, max_sentences: int | None = None, progress: bool = True
) -> dict:
    """Tatoeba X-eng top-1 retrieval for ``langs`` (ISO 639-3 or LASER codes; None = all 112)."""
    available = tatoeba_codes()
    if langs is not None and not langs:
        raise ConfigError("tatoeba: empty language list")
    pairs: dict[str, tuple[str, PairLoader]] = {}
    for lang in langs if langs is not None else available:
        code = _resolve_tatoeba(lang, available)
        pairs[lang] = (to_iso3(code) or code, lambda code=code: _read_tatoeba_laser(code))
    return _evaluate("tatoeba", embedder, pairs, "eng", max_sentences, progress)


def _resolve_flores(lang: str) -> str:
    """FLORES ``lang_Script`` code for an ISO 639-3 code (or the full code itself)."""
    code = flores_code(lang)
    if code is None:
        raise ConfigError(f"flores: no FLORES-200 devtest file for language {lang!r}")
    return code


@registry.register("evaluator", "flores", description="FLORES-200 devtest bitext retrieval, top-1 accuracy")
def evaluate_flores(
    embedder: Embedder,
    langs: list[str] | None = None,
    pivot: str = "eng_Latn",
    max_sentences: int | None = None,
    progress: bool = True,
) -> dict:
    """FLORES-200 devtest X-pivot top-1 retrieval; ``langs`` are ISO 639-3 or ``lang_Script`` codes.

    Results are keyed by ``lang_Script`` (FLORES has several scripts for some languages); None
    evaluates every language except the pivot.
    """
    if langs is not None and not langs:
        raise ConfigError("flores: empty language list")
    pivot = _resolve_flores(pivot)
    codes = [_resolve_flores(c) for c in langs] if langs is not None else list_codes(_FLORES_DIR, ".txt.gz")
    pivot_lines = read_flores(pivot)
    pairs: dict[str, tuple[str, PairLoader]] = {}
    for code in codes:
        if code == pivot and langs is None:
            continue
        if code == pivot:
            raise ConfigError(f"flores: {code} is the pivot; pick another pivot to evaluate it")
        pairs[code] = (to_iso3(code) or code, lambda code=code: (read_flores(code), pivot_lines))
    return _evaluate("flores", embedder, pairs, pivot, max_sentences, progress)


def cli_flag(*flags: str, **argparse_kwargs: object) -> Callable[[Callable], Callable]:
    """Declare a command-line flag of an evaluator: ``@cli_flag("--layer", help=...)`` above its
    ``@register``. ``interlingua eval`` adds the flags of every evaluator (a flag shared by two is added
    once) and passes a flag's value, when given, to the evaluators whose signature takes its ``dest``."""

    def wrap(fn: Callable) -> Callable:
        # Decorators apply bottom-up: prepend, so the flags keep the order they are written in (and --help shows it).
        fn.cli_flags = [(flags, argparse_kwargs), *getattr(fn, "cli_flags", [])]
        return fn

    return wrap


def options_of(task: str) -> list[str]:
    """The keyword options the evaluator ``task`` takes (after ``embedder, langs``)."""
    return list(inspect.signature(registry.get("evaluator", task).cls).parameters)[2:]


def evaluator(task: str, **options: object) -> Callable[[Embedder, list[str] | None], dict]:
    """The evaluator registered as ``task`` with ``options`` bound: ``run(embedder, langs) -> result``.

    Checked before any model is loaded: an unknown task, or an option the task does not take, is a
    ConfigError naming the known ones.
    """
    fn = registry.get("evaluator", task).cls
    accepted = options_of(task)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"evaluator {task!r} takes no option {', '.join(unknown)}; its options: {', '.join(accepted)}")
    return lambda embedder, langs: fn(embedder, langs, **options)
