"""What every objective shares: its config base and the interface the trainer calls.

An objective is registered by name (``@register("objective", "mlm", MLMConfig)``), draws its own batches
from the :class:`~interlingua.data.pool.Pool` with a seeded generator, and returns
``(loss_sum, num_items, metrics)``: a *sum* over items, so the trainer can divide by the global item count
and keep gradient accumulation and data parallelism exact.

Beyond that, an objective is a plug-in (docs/adding-an-objective.md):

- ``needs``: the data it reads, by loader name (``pairs``, ``mono``, ``docs``, ``xquad``, ``sick``; see
  ``interlingua.data.loaders``); the run loads the union of what its objectives need.
- ``build_heads(model)``: trainable modules it adds to the model (saved in ``model.safetensors``,
  optimised, synchronised by DDP). By default the ``heads`` names of the shared table.
- ``build_state(model)``: training-only state (a momentum twin, a queue of negatives, running statistics)
  as an ``nn.Module`` whose tensors are not trained; called once the ``model.init`` weights are loaded,
  moved to the device, saved in checkpoints and restored on resume, kept out of ``model.safetensors``
  and exports, and never seen by DDP. Every process must update it identically.
- ``after_step(model, step)``: once per optimizer step, after the update (e.g. an EMA of the weights);
  ``skip_step()`` instead when the trainer skips a non-finite step (drop what that step's forward kept).
- ``reduce_metrics(sums)``: its logged metrics from the globally summed values its ``__call__`` returned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from interlingua.data.batches import TokenBatch
from interlingua.data.pool import Pool
from interlingua.tokenization.vocab import Vocab

LossOut = tuple[torch.Tensor, int, dict[str, float]]


@dataclass
class ObjectiveConfig:
    weight: float = 1.0
    """Multiplies this objective's (globally normalised) loss in the sum the trainer minimises."""


class Objective:
    name: ClassVar[str] = ""
    heads: ClassVar[tuple[str, ...]] = ()
    """Heads of the shared table (``models.heads.HEADS``) this objective uses; see :meth:`build_heads`."""
    needs: ClassVar[tuple[str, ...]] = ("pairs",)
    """Data loaders (by registered name) whose tables this objective draws from."""
    splittable: ClassVar[bool] = True
    """False when the loss couples rows of a batch (in-batch negatives): the trainer then keeps batches whole."""

    def __init__(self, cfg: Any, vocab: Vocab, max_len: int) -> None:
        self.cfg = cfg
        self.vocab = vocab
        self.max_len = max_len
        self.state: nn.Module | None = None  # set by the trainer from build_state

    def build_heads(self, model: nn.Module) -> dict[str, nn.Module]:
        """Trainable modules of this objective's own, to add to ``model.heads``; heads named in ``heads`` come
        from the shared table (the model builds those, shared between objectives)."""
        return {}

    def build_state(self, model: nn.Module) -> nn.Module | None:
        """Training-only state, built from the (already initialised or loaded) model; None if stateless."""
        return None

    def uses_every_parameter(self, model: nn.Module) -> bool:
        """False when this objective's loss leaves trainable parameters without gradient (a hidden layer below the
        last); DDP then has to look for unused parameters, unless another objective uses them."""
        return True

    def after_step(self, model: nn.Module, step: int) -> None:
        """Called once per optimizer step, after the update; ``step`` counts the updates done."""

    def skip_step(self) -> None:
        """Called instead of :meth:`after_step` when the step's loss was not finite and no update was made."""

    def reduce_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """Logged metrics from the global sums of ``train/<name>/*`` values; default: loss and accuracy per item."""
        n = max(sums.get(f"train/{self.name}/n", 0.0), 1.0)
        return {f"train/{self.name}/loss": sums.get(f"train/{self.name}/loss_sum", 0.0) / n,
                f"train/{self.name}/acc": sums.get(f"train/{self.name}/correct", 0.0) / n}

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> TokenBatch:
        raise NotImplementedError

    def __call__(self, model: torch.nn.Module, batch: TokenBatch) -> LossOut:
        raise NotImplementedError


def model_for(cfg: Any, objectives: list[Objective]) -> nn.Module:
    """A ``PretrainModel`` with the shared-table heads the objectives name, then each objective's own heads."""
    from interlingua.models.heads import PretrainModel

    model = PretrainModel(cfg, sorted({h for o in objectives for h in o.heads}))
    for obj in objectives:
        model.add_heads(obj.build_heads(model))
    return model


def masked_positions(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D), (B, T) -> (N, D) hidden states and (N,) targets at the positions with a label."""
    keep = labels != -100  # (B, T)
    return hidden[keep], labels[keep]
