"""A BERT / XLM-R style transformer encoder in one file, top to bottom.

Embeddings (token + position + optional language + optional segment) -> LayerNorm -> N post-LN blocks of
SDPA self-attention and a GELU feed-forward network. Parameter names follow Hugging Face's ``BertModel``
(see ``interlingua.models.hf``), so export and import are a rename.

``forward`` stays open to the objectives that need more than hidden states:
- ``attn_mask``: (B, T) padding mask, or a per-example (B, T, T) / (B, H, T, T) boolean mask
  (True = may attend), e.g. ERNIE-M's CAMLM where masked tokens see only the other sentence;
- ``causal=True`` for CLM;
- ``attn_layers``: layers whose attention probabilities are returned (AMBER's CLWA). Those layers compute
  softmax(QK^T) explicitly; the others stay on fused SDPA;
- ``inputs_embeds`` instead of ``input_ids`` (embedding mixing, adversarial noise);
- ``momentum_copy`` builds the frozen EMA twin InfoXLM's XLCO needs.
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.config import ModelConfig


@dataclass
class EncoderOutput:
    last_hidden: torch.Tensor  # (B, T, D)
    hidden_states: list[torch.Tensor] = field(default_factory=list)  # [(B, T, D)] * (L + 1) when asked
    attentions: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> (B, H, T, T)


class Embeddings(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.position = nn.Embedding(cfg.max_positions, cfg.d_model)
        self.lang = nn.Embedding(cfg.n_langs, cfg.d_model) if cfg.lang_embeddings else None
        self.segment = nn.Embedding(cfg.n_segments, cfg.d_model) if cfg.n_segments > 0 else None
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        lang_ids: torch.Tensor | None,
        segment_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.word(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, D)
        if position_ids is None:
            position_ids = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
        x = x + self.position(position_ids)
        if self.lang is not None:
            if lang_ids is None:
                raise ValueError("this encoder has language embeddings: pass lang_ids (B, T)")
            x = x + self.lang(lang_ids)
        if self.segment is not None:
            x = x + self.segment(segment_ids if segment_ids is not None else torch.zeros_like(x[..., 0], dtype=torch.long))
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_dropout = cfg.attn_dropout

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool, want_probs: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, Dh)
        p_drop = self.attn_dropout if self.training else 0.0
        probs = None
        if want_probs:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
            if causal:
                scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=x.device).tril(), float("-inf"))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            probs = scores.softmax(-1)
            y = F.dropout(probs, p_drop, self.training) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop, is_causal=causal and mask is None)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.out(y), probs


class Block(nn.Module):
    """Post-LN transformer block, as BERT and XLM-R: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ff_in = nn.Linear(cfg.d_model, cfg.d_ff)
        self.ff_out = nn.Linear(cfg.d_ff, cfg.d_model)
        self.ff_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool = False, want_probs: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, probs = self.attn(x, mask, causal, want_probs)
        x = self.attn_norm(x + self.dropout(a))
        x = self.ff_norm(x + self.dropout(self.ff_out(F.gelu(self.ff_in(x)))))
        return x, probs


def expand_mask(attn_mask: torch.Tensor | None, causal: bool) -> torch.Tensor | None:
    """Padding (B, T) / pairwise (B, T, T) / (B, H, T, T) boolean masks -> broadcastable (B, 1|H, T|1, T).

    With ``causal`` and an explicit mask, the causal triangle is folded in here (SDPA's ``is_causal``
    cannot be combined with ``attn_mask``).
    """
    if attn_mask is None:
        return None
    mask = attn_mask.bool()
    if mask.dim() == 2:
        mask = mask[:, None, None, :]  # (B, 1, 1, T)
    elif mask.dim() == 3:
        mask = mask[:, None]  # (B, 1, T, T)
    if causal:
        T = mask.shape[-1]
        mask = mask & torch.ones(T, T, dtype=torch.bool, device=mask.device).tril()
    if mask.dim() == 4 and mask.shape[-2] > 1:
        # A query row with nothing to attend to (padding under a pairwise mask) would give NaN; let it
        # see itself. Its output is never used.
        eye = torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
        mask = mask | (~mask.any(-1, keepdim=True) & eye)
    return mask


def _no_padding(attn_mask: torch.Tensor | None) -> bool:
    """True for a (B, T) padding mask that lets every token attend everywhere (not checked while compiling)."""
    if attn_mask is None or attn_mask.dim() != 2 or torch.compiler.is_compiling():
        return False
    return bool(attn_mask.all())


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= 0:
            raise ValueError("model.vocab_size must be set (it is filled from the tokenizer)")
        if cfg.lang_embeddings and cfg.n_langs <= 0:
            raise ValueError("model.lang_embeddings needs model.n_langs > 0")
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.active_layers: int | None = None
        """Run only the first k blocks (progressive stacking, ``interlingua.training.stacking``); None = all."""
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.cfg.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        lang_ids: torch.Tensor | None = None,
        segment_ids: torch.Tensor | None = None,
        *,
        causal: bool = False,
        attn_layers: tuple[int, ...] = (),
        output_hidden_states: bool = False,
        inputs_embeds: torch.Tensor | None = None,
    ) -> EncoderOutput:
        x = self.embeddings(input_ids, position_ids, lang_ids, segment_ids, inputs_embeds)  # (B, T, D)
        if _no_padding(attn_mask):
            # Attending everywhere is SDPA without a mask (the same math). Without one, SDPA skips building
            # and adding a (B, 1, 1, T) float mask, and on GPU it may pick the flash kernel.
            attn_mask = None
        mask = expand_mask(attn_mask, causal)
        out = EncoderOutput(last_hidden=x, hidden_states=[x] if output_hidden_states else [])
        for i, layer in enumerate(self.layers):
            if i == self.active_layers:
                break
            x, probs = layer(x, mask, causal=causal and mask is None, want_probs=i in attn_layers)
            if probs is not None:
                out.attentions[i] = probs
            if output_hidden_states:
                out.hidden_states.append(x)
        out.last_hidden = x
        return out

    def num_params(self, exclude_embeddings: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embeddings.word.weight.numel() if exclude_embeddings else n


def pool(hidden: torch.Tensor, attn_mask: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """(B, T, D) hidden states + (B, T) padding mask -> (B, D) sentence vectors: the first token (``cls``)
    or the mean over unmasked tokens (``mean``). Every embedding path (training, ``encode``, ``eval``) uses it."""
    if how == "cls":
        return hidden[:, 0]
    if how != "mean":
        raise ValueError(f"pooling must be 'cls' or 'mean', got {how!r}")
    m = attn_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Run the block with ``model`` in eval mode (no dropout), then restore its mode, also on an exception."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def momentum_copy(encoder: nn.Module) -> nn.Module:
    """A frozen copy to be updated by :func:`ema_update` (InfoXLM / MoCo momentum encoder)."""
    twin = copy.deepcopy(encoder)
    for p in twin.parameters():
        p.requires_grad_(False)
    twin.momentum_twin = True  # progressive stacking leaves it frozen (training.stacking.encoders)
    return twin


@torch.no_grad()
def ema_update(twin: nn.Module, online: nn.Module, momentum: float) -> None:
    """twin <- momentum * twin + (1 - momentum) * online, parameter by parameter in order (the same layout)."""
    pairs = list(zip(twin.named_parameters(), online.named_parameters(), strict=True))
    for (name, t), (_, o) in pairs:
        if t.shape != o.shape:  # a twin of another architecture (a progressive-stacking step that missed it)
            raise ValueError(f"ema_update: {name} is {tuple(t.shape)} in the twin, {tuple(o.shape)} in the model")
    for (_, t), (_, o) in pairs:
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)
