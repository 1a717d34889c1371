"""The training loop: seeded batches, exact loss normalisation, accumulation, DDP, checkpoints, metrics.

Each step, every objective k draws a global batch of ``train.batch_size`` rows from a generator seeded by
(seed, step, k). Process r keeps rows [r·G/W, (r+1)·G/W) and splits them into ``grad_accum`` micro-batches.
The global item count N_k (masked tokens, rows, ...) is summed over processes *before* the forward
pass, and every micro-batch contributes

    Σ_k w_k · W · loss_sum_k / N_k

to the gradient (W = world size, undone by DDP's gradient averaging), so one process with the whole batch,
accumulation, and data parallelism all produce the same update.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from interlingua.config import RunConfig
from interlingua.errors import CheckpointError, ConfigError, TrainingError
from interlingua.data.pool import Pool
from interlingua.objectives.base import Objective
from interlingua.training import checkpoint as ckpt
from interlingua.training import stacking
from interlingua.training.distributed import Dist, all_reduce_sum, barrier
from interlingua.training.optim import build_optimizer, get_lr, set_lr


def step_generator(seed: int, step: int, k: int) -> torch.Generator:
    """The generator that draws objective k's batch at ``step`` (identical on every process)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 101 + k)


def split_micro(batch: Any, obj: Objective, grad_accum: int, max_tokens: int) -> list[Any]:
    """Rows sorted by length, cut into at least ``grad_accum`` micro-batches of at most ``max_tokens`` padded
    tokens, each trimmed to its longest row. Loss sums do not depend on the split, so this only saves the
    compute spent on padding (UI strings and Bible verses vary from 2 to 100+ tokens).

    Objectives whose loss couples the rows of a batch (in-batch negatives) set ``splittable = False`` and
    are split only into the ``grad_accum`` parts the user asked for.
    """
    if not getattr(obj, "splittable", True) or not hasattr(batch, "lengths"):
        size = math.ceil(len(batch) / grad_accum)
        return [batch.slice(i, i + size) for i in range(0, len(batch), size)]
    lengths = batch.lengths()
    order = torch.argsort(lengths, stable=True)
    batch, lengths = batch.select(order), lengths[order].tolist()
    parts, start = [], 0
    n_parts = max(grad_accum, math.ceil(sum(lengths) / max_tokens))
    target = math.ceil(len(lengths) / n_parts)
    while start < len(lengths):
        stop = start + 1
        while stop < len(lengths) and stop - start < target and (stop + 1 - start) * lengths[stop] <= max_tokens:
            stop += 1
        parts.append(batch.slice(start, stop).trim())
        start = stop
    return parts


class _Wrapper(torch.nn.Module):
    """Runs every objective inside one ``forward`` so DDP sees each parameter used once per micro-batch."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, objectives: list[Objective], batches: list[Any], scales: list[float]):
        total = torch.zeros((), device=next(self.model.parameters()).device)
        metrics: dict[str, float] = {}
        for obj, batch, scale in zip(objectives, batches, scales):
            loss_sum, _, m = obj(self.model, batch)
            total = total + scale * loss_sum
            metrics.update(m)
        return total, metrics


@dataclass
class Trainer:
    cfg: RunConfig
    model: torch.nn.Module
    objectives: list[Objective]
    pool: Pool
    run_dir: Path
    dist: Dist

    def __post_init__(self) -> None:
        t = self.cfg.train
        if t.batch_size % (self.dist.world * t.grad_accum):
            raise ConfigError(f"train.batch_size={t.batch_size} must be a multiple of processes x train.grad_accum "
                              f"= {self.dist.world} x {t.grad_accum}")
        self.model.to(self.dist.device)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.optimizer = build_optimizer(self.model, self.cfg.train)
        self.step = 0
        self.skipped = 0  # steps skipped for a non-finite loss (train.skip_nonfinite)
        self.last_ckpt_s = 0.0
        self.elapsed_s = 0.0  # training time of earlier sessions of this run (restored on resume)
        self._wrap()
        self._build_states()  # after DDP's wrap, which broadcasts rank 0's weights: every twin starts equal
        self.weights = [self.cfg.objectives[o.name].weight for o in self.objectives]
        self.metrics_path = self.run_dir / "metrics.jsonl"

    def _build_states(self) -> None:
        """Each objective's training-only state, from the model as loaded (a momentum twin equals model.init)."""
        for obj in self.objectives:
            obj.state = obj.build_state(self.model)
            if obj.state is None:
                continue
            obj.state.to(self.dist.device)
            trainable = [n for n, p in obj.state.named_parameters() if p.requires_grad]
            if trainable:
                raise ConfigError(f"objective {obj.name}: its training-only state has trainable tensors "
                                  f"({', '.join(trainable[:3])}); return trainable modules from build_heads instead")

    def objective_states(self) -> dict[str, torch.Tensor]:
        """``<objective>.<tensor>`` -> tensor of every objective's state (checkpointed, not exported)."""
        return {f"{o.name}.{k}": v for o in self.objectives if o.state is not None
                for k, v in o.state.state_dict().items()}

    def _wrap(self) -> None:
        """(Re)build the DDP wrapper; with progressive stacking, first freeze the blocks not yet active."""
        if self.cfg.train.stacking:
            stacking.set_depth(self.model, stacking.active_layers(self.step, self.cfg.train.stacking))
        wrapped = _Wrapper(self.model)
        unused = not any(o.uses_every_parameter(self.model) for o in self.objectives)  # one full user suffices
        self.net = DDP(wrapped, find_unused_parameters=unused) if self.dist.world > 1 else wrapped

    # ------------------------------------------------------------------------------------------ batches
    def _local_batches(self, step: int) -> tuple[list[list[Any]], list[int]]:
        """Per objective: this process's micro-batches, and the global item count."""
        t = self.cfg.train
        per_rank = t.batch_size // self.dist.world
        micro, counts = [], []
        for k, obj in enumerate(self.objectives):
            batch = obj.make_batch(self.pool, t.batch_size, step_generator(t.seed, step, k))
            mine = batch.slice(self.dist.rank * per_rank, (self.dist.rank + 1) * per_rank)
            micro.append([mb.to(self.dist.device) for mb in split_micro(mine, obj, t.grad_accum, t.max_tokens)])
            counts.append(mine.num_items)
        totals = all_reduce_sum(torch.tensor(counts, dtype=torch.float64), self.dist)
        return micro, [max(int(n), 1) for n in totals.tolist()]

    # ---------------------------------------------------------------------------------------------- step
    def train_step(self) -> dict[str, float]:
        if stacking.is_boundary(self.step, self.cfg.train.stacking):
            stacking.grow(self.model, self.optimizer, stacking.active_layers(self.step, self.cfg.train.stacking))
            self._wrap()
        micro, totals = self._local_batches(self.step)
        scales = [w * self.dist.world / n for w, n in zip(self.weights, totals)]
        set_lr(self.optimizer, get_lr(self.step, self.cfg.train))
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        n_micro = max(len(mb) for mb in micro)
        loss_total = 0.0
        for i in range(n_micro):
            # Objectives with fewer micro-batches sit out the *first* passes, so every objective (and every
            # parameter) takes part in the last pass, the one DDP synchronises; processes may differ in
            # their pass count, but not in the order of their collectives.
            part = [(o, mb[i - n_micro + len(mb)], sc) for o, mb, sc in zip(self.objectives, micro, scales)
                    if i >= n_micro - len(mb)]
            sync = i == n_micro - 1 or not isinstance(self.net, DDP)
            ctx = self.net.no_sync() if not sync else contextlib.nullcontext()
            with ctx:
                loss, m = self.net(*map(list, zip(*part)))
                loss.backward()
            loss_total += float(loss.detach())
            for key, val in m.items():
                sums[key] = sums.get(key, 0.0) + val
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.clip_norm)
        agg, finite = self._reduce(sums, loss_total, float(grad_norm))
        if finite:
            self.optimizer.step()
        self.step += 1
        for obj in self.objectives:
            if finite:
                obj.after_step(self.model, self.step)
            else:
                obj.skip_step()
        self.skipped += int(not finite and self.cfg.train.skip_nonfinite)
        row = self._summarise(agg, float(grad_norm))
        if not finite and not self.cfg.train.skip_nonfinite:
            self._stop_non_finite(row)
        return row

    def _reduce(self, sums: dict[str, float], loss: float, grad_norm: float) -> tuple[dict[str, float], bool]:
        """One collective: the metric sums over processes, and whether loss and gradient were finite on every
        process (a shared decision, so all processes step or skip)."""
        keys = sorted(sums)
        bad = float(not (math.isfinite(loss) and math.isfinite(grad_norm)))
        vals = all_reduce_sum(torch.tensor([sums[k] for k in keys] + [bad], dtype=torch.float64), self.dist).tolist()
        return dict(zip(keys, vals[:-1])), not vals[-1] > 0

    def _stop_non_finite(self, row: dict[str, float]) -> None:
        """Stop before anything of this step is written (``train.skip_nonfinite`` skips and counts instead)."""
        losses = ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k.endswith("/loss"))
        raise TrainingError(
            f"step {self.step}: non-finite loss or gradient ({losses}, grad_norm={row['train/grad_norm']:.4g}); "
            f"nothing was written for this step and the last checkpoint in {self.run_dir / 'checkpoints'} is kept. "
            "Lower train.lr, check the data, or set train.skip_nonfinite=true to skip such steps")

    def _summarise(self, agg: dict[str, float], grad_norm: float) -> dict[str, float]:
        """The logged row from the globally summed metrics."""
        out = {"step": self.step, "train/lr": self.optimizer.param_groups[0]["lr"], "train/grad_norm": grad_norm}
        if self.cfg.train.skip_nonfinite:
            out["train/skipped"] = float(self.skipped)
        for obj in self.objectives:
            prefix = f"train/{obj.name}/"
            out.update(obj.reduce_metrics({k: v for k, v in agg.items() if k.startswith(prefix)}))
        return out

    # ---------------------------------------------------------------------------------------- checkpoints
    def save(self) -> None:
        root = self.run_dir / "checkpoints"
        if (root / "latest").exists() and (root / "latest").read_text().strip() == f"step-{self.step:08d}":
            return  # already committed (the last step is a multiple of ckpt_every, or a resume at the end)
        tmp = root / f"step-{self.step:08d}.tmp"
        bad = [n for n, p in self.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:  # never let a broken state replace (and prune) a good checkpoint
            raise TrainingError(f"step {self.step}: parameters {', '.join(bad[:3])} are not finite; "
                                f"no checkpoint written, the last good one in {root} is kept")
        self.last_ckpt_s = self.elapsed_s
        if self.dist.main:
            extra = {"world": self.dist.world, "elapsed_s": self.elapsed_s, "skipped": self.skipped}
            ckpt.write_checkpoint(root, self.step, self.model, self.optimizer, extra, self.objective_states())
        barrier(self.dist)
        ckpt.write_rng(tmp, self.dist.rank, self.dist.device)
        barrier(self.dist)
        if self.dist.main:
            ckpt.commit_checkpoint(tmp, keep=self.cfg.train.keep_checkpoints)
        barrier(self.dist)

    def resume(self) -> bool:
        path = ckpt.latest_checkpoint(self.run_dir / "checkpoints")
        if path is None:
            return False
        state = ckpt.read_checkpoint(path, self.model, self.optimizer, self.dist.rank, self.dist.device)
        self._restore_states(ckpt.read_objective_states(path))
        self.step = int(state["step"])
        self.elapsed_s = self.last_ckpt_s = float(state.get("elapsed_s", 0.0))
        self.skipped = int(state.get("skipped", 0))
        if self.dist.main:
            self._truncate_metrics()
        if self.cfg.train.stacking:
            self._wrap()  # the depth of the resumed step
        return True

    def _restore_states(self, tensors: dict[str, torch.Tensor]) -> None:
        for obj in self.objectives:
            if obj.state is None:
                continue
            own = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == obj.name}
            try:
                obj.state.load_state_dict(own)
            except RuntimeError as exc:
                raise CheckpointError(f"objective {obj.name}: its checkpointed state does not fit ({exc})") from None

    def _truncate_metrics(self) -> None:
        """Drop rows logged after the resumed checkpoint: those steps are replayed and logged again."""
        if not self.metrics_path.exists():
            return
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        keep = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= self.step]
        if len(keep) != len(lines):
            ckpt.atomic_write_text(self.metrics_path, "".join(ln + "\n" for ln in keep))

    # ---------------------------------------------------------------------------------------------- loop
    def fit(self, stop_at: int | None = None) -> list[dict[str, float]]:
        """Train to ``train.steps`` (or ``stop_at``), logging and checkpointing; returns the logged rows."""
        t = self.cfg.train
        end = min(stop_at or t.steps, t.steps)
        rows: list[dict[str, float]] = []
        bar = tqdm(total=end, initial=self.step, desc="training", disable=not self.dist.main, dynamic_ncols=True)
        start, before = time.perf_counter(), self.elapsed_s
        self.model.train()
        out_of_time, _ = self._clock()
        while self.step < end and not out_of_time:
            row = self.train_step()
            self.elapsed_s = before + time.perf_counter() - start
            bar.update(1)
            if self.step % t.log_every == 0 or self.step == end:
                row["time_s"] = self.elapsed_s
                rows.append(row)
                self._log(row, bar)
            out_of_time, ckpt_due = self._clock()
            if (t.ckpt_every and self.step % t.ckpt_every == 0) or (ckpt_due and self.step < end):
                self.save()
        bar.close()
        if out_of_time and self.step < end and self.dist.main:
            print(f"time budget of {t.max_minutes:g} min reached at step {self.step}; to continue, pass --resume "
                  f"with a larger train.max_minutes (the budget counts every session of the run)")
        self.save()
        return rows

    def _clock(self) -> tuple[bool, bool]:
        """(out of time, checkpoint due by time), shared between processes (any one decides for all), so
        every process stops and checkpoints at the same step."""
        t = self.cfg.train
        flags = torch.tensor([float(t.max_minutes > 0 and self.elapsed_s >= 60 * t.max_minutes),
                              float(t.ckpt_minutes > 0 and self.elapsed_s - self.last_ckpt_s >= 60 * t.ckpt_minutes)])
        out, due = (all_reduce_sum(flags, self.dist) > 0).tolist()
        return bool(out), bool(due)

    def _log(self, row: dict[str, float], bar: tqdm) -> None:
        if not self.dist.main:
            return
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        bar.set_postfix({k.split("/")[1]: f"{v:.3f}" for k, v in row.items() if k.endswith("/loss")})

