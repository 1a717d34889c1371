"""Dynamic int8 ``nn.Linear`` for CPU inference (what ``interlingua.encode`` runs by default on CPU)."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def _cpu_has_vnni() -> bool:
    """VNNI (or AMX) int8 dot products accumulate in int32; without them fbgemm's u8 x s8 pairs can
    saturate int16 unless activations are cut to 7 bits (``reduce_range``)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


class Int8Linear(nn.Module):
    """``nn.Linear`` with int8 weights (one scale per output row) and activations quantised per call
    (fbgemm's dynamic linear). Full 8-bit activations where the CPU has VNNI, 7-bit elsewhere."""

    def __init__(self, linear: nn.Linear, reduce_range: bool) -> None:
        super().__init__()
        w = linear.weight.detach().float()  # (out, in)
        scale = (w.abs().amax(dim=1) / 127).clamp_min(1e-12).double()  # (out,)
        zero = torch.zeros_like(scale, dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensor constructors warn of a future move to torchao
            qweight = torch.quantize_per_channel(w, scale, zero, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(qweight, linear.bias.detach().float()
                                                             if linear.bias is not None else None)
        self.reduce_range = reduce_range
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x.float(), self.packed, reduce_range=self.reduce_range)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, reduce_range={self.reduce_range}"


def quantize_int8(module: nn.Module, down_projections: bool = False) -> nn.Module:
    """Replace the ``nn.Linear`` layers of ``module`` (in place) by :class:`Int8Linear`.

    ``down_projections=False`` keeps the layers with more inputs than outputs (the feed-forward output
    projection) in fp32: their inputs, after GELU, carry the outlier features that make per-tensor
    activation scales coarse. On me5-small that is the difference between -0.43 and -0.09 points of
    Tatoeba accuracy (deu, fra, rus, cmn), for a quarter of the matmul work left in fp32.
    """
    reduce_range = not _cpu_has_vnni()
    for child in list(module.modules()):
        for attr, sub in list(child.named_children()):
            if type(sub) is nn.Linear and (down_projections or sub.in_features <= sub.out_features):
                setattr(child, attr, Int8Linear(sub, reduce_range))
    return module
