"""AdamW with decoupled weight decay (none on biases and norms) and a warm-up / linear-decay schedule."""
from __future__ import annotations

import torch

from interlingua.config import TrainConfig


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): linear warm-up, then linear decay to lr*min_lr_ratio."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.lr * (1.0 - (1.0 - cfg.min_lr_ratio) * progress)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused=True: one kernel per parameter for the whole update, on CPU as on CUDA. On 2 CPU cores it took the
    # optimizer step of the 4-layer d=256 / 32k-vocab benchmark model from 388 ms (foreach) to 64 ms: the tied
    # word embeddings get a dense gradient every step.
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=True)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
