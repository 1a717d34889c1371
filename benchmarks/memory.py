"""Memory of a `labse-me5` training run: the tokenised pool, and RSS growth over the training steps.

The recipe's data (Bible + gettext, every language, me5-small's 250k vocabulary, ``query: `` prefix)
goes through the real ``interlingua.training.run.setup``; ``build_pool`` is wrapped only to read the
process's peak RSS (``ru_maxrss``) and current RSS (``VmRSS``) the moment it returns, i.e. after
loading and tokenising (the model is already built by then, as in ``setup``). Training is the real
``Trainer.fit``, with ``train_step`` wrapped to read ``VmRSS`` after every step; checkpoints are off until
the final one, which ``fit`` writes after the last measurement.

Printed:
- RSS after imports, after ``load_data`` (the raw strings), peak and current RSS after ``build_pool``;
- the pool's storage: bytes of every object reachable from it (numpy arrays by ``nbytes``, Python
  lists, tuples and ints by ``sys.getsizeof``, each object once), per stored token (each physical
  copy of a token id once) and per logical token (what ``pool.mono`` / ``pool.pairs`` / docs / tasks
  hand out: both sides of every pair, every monolingual sentence);
- RSS after steps 1, 20, 50, 100, 150, 200 and the growth from step 20 to the last step, the number of
  Python objects the garbage collector tracks at step 20 and at the last step, the median step time.

``--trim-every N`` calls glibc's ``malloc_trim(0)`` every N steps (and times it): the RSS that this
returns to the system was freed memory the allocator kept, not memory in use.

The recipe trains at batch 64 (~12 s a step on 2 cores, 40 min for 200 steps); ``--batch-size``
defaults to 8 and is printed with the results. Targets: <= 16 bytes per stored token (offsets
included), <= 10 % RSS growth between step 20 and step 200.

    python benchmarks/memory.py [--batch-size 8 --threads 2 --steps 200 --early 20 --trim-every 0]

It needs the corpora (``INTERLINGUA_DATA``) and converts me5-small on first use (~8 min on 2 cores here,
of which ~2 loading and tokenising).

The last line is ``bytes_per_token=X.XX rss_growth=Y.Y%``.
"""
from __future__ import annotations

import ctypes
import gc
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _args import parse_dataclass_args  # benchmarks/ is on sys.path when a script here runs


@dataclass
class Args:
    recipe: str = "labse-me5"
    batch_size: int = 8
    """Rows per step (the recipe's 64 takes ~40 min for 200 steps on 2 cores)."""
    threads: int = 2
    steps: int = 200
    early: int = 20
    """The step whose RSS growth is measured from (allocator and optimizer state settled)."""
    run_dir: str = ""
    """Where the run's files go (a temporary folder, removed afterwards, by default)."""
    trim_every: int = 0
    """Call glibc's malloc_trim(0) every N steps (0: never). With N=1, what growth remains is memory in use."""


def rss_mb() -> float:
    """Current resident set size (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _is_ids(obj: object) -> bool:
    return isinstance(obj, list | tuple) and len(obj) > 0 and all(type(v) is int for v in obj)


def storage(root: object) -> tuple[int, int]:
    """(bytes, stored tokens) of everything reachable from ``root``, each object counted once.

    Works for any pool layout: numpy arrays count ``nbytes`` (a store's ``ids`` array counts as tokens);
    lists, tuples, dicts and ints count ``sys.getsizeof`` (small ints are interned and count only as the
    list's pointer); a list or tuple of ints is one sentence, its length its stored tokens.
    """
    import numpy as np

    seen: set[int] = set()
    total = tokens = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | float | bool | type(None)):
            continue
        if type(obj) is int:
            if not -5 <= obj <= 256:
                seen.add(id(obj))
                total += sys.getsizeof(obj)
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            total += obj.nbytes if obj.base is None else 0
            continue
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            if _is_ids(obj):
                tokens += len(obj)
            stack.extend(obj)
        else:
            ids = getattr(obj, "ids", None)
            if isinstance(ids, np.ndarray):
                tokens += ids.size
            stack.extend(getattr(obj, "__dict__", {}).values())
            stack.extend(getattr(obj, s) for s in getattr(obj, "__slots__", ()) if hasattr(obj, s))
    return total, tokens


def logical_tokens(pool) -> int:
    """Token ids the pool hands out: every monolingual sentence, both sides of every pair, docs, tasks."""
    n = sum(len(ids) for table in pool.mono.values() for ids in table)
    n += sum(len(p) + len(x) for table in pool.pairs.values() for p, x in table)
    n += sum(len(s) for table in pool.docs.values() for doc in table for s in doc)
    n += sum(len(v) for by_lang in pool.tasks.values() for items in by_lang.values()
             for row in items for v in row if not isinstance(v, int))
    return n


def instrument(run) -> tuple[dict[str, float], dict[str, object]]:
    """Wrap ``run.load_data`` and ``run.build_pool`` (looked up by ``setup`` at call time) to read RSS."""
    marks: dict[str, float] = {"imports": rss_mb()}
    held: dict[str, object] = {}
    load_data, build_pool = run.load_data, run.build_pool

    def timed_load(cfg):
        t0 = time.perf_counter()
        out = load_data(cfg)
        held["load_s"], marks["load_data"] = time.perf_counter() - t0, rss_mb()
        held["n_pairs"] = sum(len(p) for p in out[0].values())
        return out

    def measured_pool(*a, **kw):
        marks["before build_pool"] = rss_mb()
        t0 = time.perf_counter()
        pool = build_pool(*a, **kw)
        held["pool_s"] = time.perf_counter() - t0
        marks["build_pool (current)"], marks["build_pool (peak)"] = rss_mb(), peak_rss_mb()
        held["pool"] = pool
        return pool

    run.load_data, run.build_pool = timed_load, measured_pool
    return marks, held


def train_recording(trainer, args: Args) -> tuple[dict[int, float], dict[int, int], list[float], list[float]]:
    """``trainer.fit()`` with RSS read after every step (gc's object count at two steps), and the seconds
    of every step and of every ``malloc_trim`` call."""
    rss: dict[int, float] = {}
    objects: dict[int, int] = {}
    step_s: list[float] = []
    trim_s: list[float] = []
    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.trim_every else None
    step = trainer.train_step

    def recorded_step():
        t0 = time.perf_counter()
        out = step()
        step_s.append(time.perf_counter() - t0)
        if trim is not None and trainer.step % args.trim_every == 0:
            t0 = time.perf_counter()
            trim(0)
            trim_s.append(time.perf_counter() - t0)
        rss[trainer.step] = rss_mb()
        if trainer.step in (args.early, args.steps):
            objects[trainer.step] = len(gc.get_objects())  # Python objects tracked by the collector
        return out

    trainer.train_step = recorded_step
    trainer.fit()
    return rss, objects, step_s, trim_s


def main() -> None:
    args = parse_dataclass_args(Args, __doc__.split("\n\n")[0])
    import interlingua
    from interlingua.config import load_config
    from interlingua.training import run

    print(f"interlingua from {Path(interlingua.__file__).parent}")
    marks, held = instrument(run)
    cfg = load_config(args.recipe, [f"train.batch_size={args.batch_size}", f"train.threads={args.threads}",
                                    f"train.steps={args.steps}", "train.ckpt_every=0"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = run.setup(cfg, Path(args.run_dir or tmp))
        marks["setup"] = rss_mb()
        pool = held.pop("pool")
        rss, objects, step_s, trim_s = train_recording(trainer, args)
    peak = peak_rss_mb()  # before the storage walk below, which allocates for itself
    nbytes, stored = storage(pool)
    logical = logical_tokens(pool)

    print(f"\nrecipe {args.recipe}: {len(pool.pairs)} languages, {held['n_pairs']} pairs loaded in "
          f"{held['load_s']:.0f} s, tokenised in {held['pool_s']:.0f} s")
    for name, mb in marks.items():
        print(f"  RSS {name:<22} {mb:8.0f} MiB")
    print(f"pool storage {nbytes / 2**20:.0f} MiB: {stored} stored tokens ({nbytes / stored:.2f} bytes each), "
          f"{logical} logical tokens ({nbytes / logical:.2f} bytes each)")
    print(f"training: batch_size={args.batch_size} (recipe: 64), threads={args.threads}, {args.steps} steps, "
          f"median {statistics.median(step_s):.2f} s a step (total {sum(step_s):.0f} s)")
    if trim_s:
        print(f"  malloc_trim(0) every {args.trim_every} steps: median {1e3 * statistics.median(trim_s):.1f} ms a call")
    for s in sorted({1, args.early, 50, 100, 150, args.steps} & set(rss)):
        print(f"  RSS after step {s:<4} {rss[s]:8.0f} MiB")
    print(f"  Python objects tracked by gc: {' -> '.join(f'{n} (step {s})' for s, n in sorted(objects.items()))}")
    print(f"  peak RSS of the process {peak:.0f} MiB")
    growth = 100 * (rss[max(rss)] - rss[args.early]) / rss[args.early]
    print(f"bytes_per_token={nbytes / stored:.2f} rss_growth={growth:.1f}%")


if __name__ == "__main__":
    main()
