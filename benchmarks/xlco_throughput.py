"""Cost of XLCO's momentum forward: an `xlco` training step against a `translation_ranking` step.

Both are the `labse-me5` recipe's step (`contrastive_throughput.Ours`: me5-small, word embeddings frozen,
fused AdamW, gradient clipping) on the same gettext batches, one process, alternating timed rounds, medians.
`translation_ranking` encodes both sides with gradients; `xlco` encodes each side with the trained encoder
(queries, with gradients) and with the momentum twin (keys, no gradient), both directions, then updates the
twin (EMA) and pushes the keys to the queue. The queue is filled before timing. Issue 9's target: an xlco step
costs at most 1.5x a translation_ranking step per pair.

    python benchmarks/xlco_throughput.py [--batch 32 --rounds 4 --steps 2 --queue 4096]

Last line: ``xlco_cost_vs_tr=X.XX`` (seconds per pair, xlco over translation_ranking).
"""
from __future__ import annotations

import argparse
import statistics

import torch
from contrastive_throughput import Ours, text_batches, timed  # benchmarks/ is on sys.path when a script here runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="me5-small")
    p.add_argument("--langs", default="deu,fra,rus,zho")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--steps", type=int, default=2, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--queue", type=int, default=4096)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    langs = a.langs.split(",")
    fill = -(-a.queue // (2 * a.batch))  # steps that fill the queue (two directions of keys a step)
    batches = text_batches(langs, a.batch, fill + a.rounds * a.steps)
    xlco_cfg = f"objectives={{xlco: {{queue_size: {a.queue}, pooling: mean, layer: -1}}}}"
    tr = Ours(a.model, a.max_len, 3e-5, name="translation_ranking")
    xlco = Ours(a.model, a.max_len, 3e-5, overrides=(xlco_cfg,), name="xlco")
    timed(tr, batches[:1])  # warm-up
    timed(xlco, batches[:fill])  # warm-up and a full queue
    assert int(xlco.objective.state.queue.filled) == a.queue
    times: dict[str, list[float]] = {tr.name: [], xlco.name: []}
    for r in range(a.rounds):
        chunk = batches[fill + r * a.steps: fill + (r + 1) * a.steps]
        for t in (tr, xlco) if r % 2 == 0 else (xlco, tr):
            times[t.name].append(timed(t, chunk) / a.steps)
    s_step = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"{'':22}{'pairs/s':>10}{'s/step':>10}")
    for name, s in s_step.items():
        print(f"{name:22}{a.batch / s:>10.2f}{s:>10.3f}")
    print(f"xlco_cost_vs_tr={s_step['xlco'] / s_step['translation_ranking']:.2f}")


if __name__ == "__main__":
    main()
