"""Data parallelism through ``torchrun``: process-group set-up and the few collectives the trainer needs.

No home-made launcher: ``torchrun --nproc_per_node N -m interlingua.cli train ...`` sets RANK /
WORLD_SIZE / MASTER_ADDR, and :func:`init` joins the group (gloo on CPU, NCCL on CUDA).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def init(device_name: str = "auto") -> Dist:
    """Join the torchrun process group if launched by torchrun, else a 1-process Dist."""
    device = pick_device(device_name)
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return Dist(device=device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    return Dist(rank, world, device)


def all_reduce_sum(values: torch.Tensor, d: Dist) -> torch.Tensor:
    """Sum a small tensor over processes (identity for one process)."""
    if d.world > 1:
        values = values.to(d.device)
        dist.all_reduce(values)
    return values.cpu()


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
