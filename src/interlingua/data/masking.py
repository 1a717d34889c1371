"""BERT-style token masking: choose positions with probability p, then 80 % <mask>, 10 % random, 10 % kept."""
from __future__ import annotations

import torch

from interlingua.data.batches import IGNORE


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    generator: torch.Generator,
    *,
    mask_id: int,
    vocab_size: int,
    prob: float = 0.15,
    p_mask: float = 0.8,
    p_random: float = 0.1,
    low: int = 0,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (corrupted ids, labels) for (B, T) ``input_ids``; ``maskable`` (B, T) excludes specials/padding.

    Random replacements are drawn from ``[low, vocab_size)`` minus ``exclude`` (special ids that need not be
    at the start of the vocabulary, e.g. XLM-R's ``<mask>`` = 250001): excluded draws are drawn again.
    """
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & maskable
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < p_mask)
    to_random = chosen & (action >= p_mask) & (action < p_mask + p_random)
    randoms = torch.randint(low, vocab_size, input_ids.shape, generator=generator)
    while exclude is not None and (bad := torch.isin(randoms, exclude) & to_random).any():
        randoms[bad] = torch.randint(low, vocab_size, (int(bad.sum()),), generator=generator)
    out = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    out = torch.where(to_random, randoms, out)
    return out, labels
