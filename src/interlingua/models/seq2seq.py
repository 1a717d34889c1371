"""A transformer decoder that shares the encoder's embeddings, for multilingual generation (XNLG, XLM's UNMT).

Each decoder block is an encoder block (post-LN self-attention and GELU feed-forward) with cross-attention
over the encoder's output inserted after the self-attention, as Hugging Face's BERT decoder:

    h = LN(x + SelfAttn_causal(x));  h = LN(h + CrossAttn(h, enc));  y = LN(h + FFN(h))

The decoder reuses the encoder's :class:`~interlingua.models.encoder.Embeddings` (token, position from 0,
language: the *target* language id on every decoder token) and ties its output projection to the token
embeddings. It lives in ``PretrainModel.heads["decoder"]``, so the objectives that need it (``dae``, ``xae``,
``bt``) name it like any head. :meth:`Decoder.init_from_encoder` copies the encoder's self-attention and
feed-forward weights into the decoder (XNLG's initialisation); cross-attention starts fresh.

Incremental decoding keeps a :class:`KVCache`: per layer, the self-attention keys/values of the tokens so far
and the cross-attention keys/values of the source (computed once). Search lives in ``models.generate``.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.config import ModelConfig
from interlingua.models.encoder import Embeddings, SelfAttention
from interlingua.models.heads import LMHead


class TimeMajor:
    """The decoded tokens' keys or values of one layer, kept time-major: a (t, B, H, Dh) view of a flat buffer.

    Appending a step writes only the new slice, and reordering rows (beam search's survivors) is one
    ``index_select`` into a second buffer; attention reads the (B, H, t, Dh) strided view as it is."""

    def __init__(self) -> None:
        self.buf: torch.Tensor | None = None
        self.spare: torch.Tensor | None = None
        self.t, self.shape = 0, (0, 0, 0)  # steps so far; (B, H, Dh)

    def _view(self, buf: torch.Tensor, t: int, rows: int) -> torch.Tensor:
        _, H, Dh = self.shape
        return buf[: t * rows * H * Dh].view(t, rows, H, Dh)

    def append(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, H, t_new, Dh) -> (B, H, t + t_new, Dh): every step so far."""
        B, H, new, Dh = x.shape
        if self.t and (B, H, Dh) != self.shape:
            raise ValueError(f"cache holds rows of shape {self.shape}, got {(B, H, Dh)}: reorder it first")
        need = (self.t + new) * B * H * Dh
        if self.buf is None or self.buf.numel() < need:
            grown = x.new_empty(max(need, 2 * (0 if self.buf is None else self.buf.numel())))
            if self.t:
                self._view(grown, self.t, B).copy_(self._view(self.buf, self.t, B))
            self.buf, self.spare = grown, x.new_empty(grown.numel())
        self.shape = (B, H, Dh)
        self._view(self.buf, self.t + new, B)[self.t:].copy_(x.permute(2, 0, 1, 3))  # (t_new, B, H, Dh)
        self.t += new
        return self._view(self.buf, self.t, B).permute(1, 2, 0, 3)  # (B, H, t, Dh)

    def reorder(self, rows: torch.Tensor) -> None:
        B, H, Dh = self.shape
        if self.spare.numel() < self.t * len(rows) * H * Dh:  # more rows than before
            self.spare = self.buf.new_empty(self.t * len(rows) * H * Dh)
        torch.index_select(self._view(self.buf, self.t, B), 1, rows, out=self._view(self.spare, self.t, len(rows)))
        self.buf, self.spare, self.shape = self.spare, self.buf, (len(rows), H, Dh)


class KVCache:
    """Per layer: ``k``/``v`` (a :class:`TimeMajor` each) of the decoded tokens, ``ck``/``cv`` (B, H, S, Dh) of
    the source."""

    def __init__(self, n_layers: int) -> None:
        self.layers: list[dict] = [{} for _ in range(n_layers)]

    @property
    def length(self) -> int:
        first = self.layers[0] if self.layers else {}
        return first["k"].t if "k" in first else 0

    def reorder(self, rows: torch.Tensor, source_rows: torch.Tensor | None = None) -> None:
        """Keep rows ``rows`` (B',) of the decoded tokens' keys/values, in that order (beam search's survivors),
        and rows ``source_rows`` of the source's; None leaves the source's alone (the rows only moved between
        the beams of one sentence, or each source row serves a group of decoder rows)."""
        for layer in self.layers:
            for key in layer:
                if key in ("k", "v"):
                    layer[key].reorder(rows)
                elif source_rows is not None:
                    layer[key] = layer[key].index_select(0, source_rows)


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, T, D = x.shape
    return x.view(B, T, n_heads, D // n_heads).transpose(1, 2)  # (B, H, T, Dh)


def cached_self_attention(attn: SelfAttention, x: torch.Tensor, cache: dict | None, training: bool) -> torch.Tensor:
    """Causal self-attention of the new tokens x (B, t, D) over the cached ones and themselves.

    Either the whole prefix at once (no cache entries yet: causal) or one token after a cached prefix.
    """
    B, t, D = x.shape
    q, k, v = attn.qkv(x).view(B, t, 3, attn.n_heads, D // attn.n_heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, t, Dh)
    if cache is not None:
        if "k" not in cache:
            cache["k"], cache["v"] = TimeMajor(), TimeMajor()
        elif t != 1:
            raise ValueError("after a cached prefix, decode one token at a time")
        k, v = cache["k"].append(k), cache["v"].append(v)  # (B, H, t_past + t, Dh)
    causal = t > 1
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.attn_dropout if training else 0.0, is_causal=causal)
    return attn.out(y.transpose(1, 2).reshape(B, t, D))  # (B, t, D)


class CrossAttention(nn.Module):
    """Queries from the decoder, keys and values from the encoder output; ``mask`` (B, S) True = real token.

    The decoder may have g rows per source row (beam search's beams, consecutive): their queries then attend
    to one copy of the source's keys/values, as g·t queries of one row."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.q = nn.Linear(cfg.d_model, cfg.d_model)
        self.k = nn.Linear(cfg.d_model, cfg.d_model)
        self.v = nn.Linear(cfg.d_model, cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_dropout = cfg.attn_dropout

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor, cache: dict | None) -> torch.Tensor:
        B, t, D = x.shape
        if cache is not None and "ck" in cache:
            k, v = cache["ck"], cache["cv"]
        else:
            k, v = _heads(self.k(context), self.n_heads), _heads(self.v(context), self.n_heads)  # (B, H, S, Dh)
            if cache is not None:
                cache["ck"], cache["cv"] = k, v
        p_drop = self.attn_dropout if self.training else 0.0
        q = _heads(self.q(x).view(k.shape[0], -1, D), self.n_heads)  # (B_src, H, g·t, Dh)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :], dropout_p=p_drop)
        return self.out(y.transpose(1, 2).reshape(B, t, D))  # (B_src, g·t, H, Dh) -> (B, t, D)


class DecoderBlock(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.cross = CrossAttention(cfg)
        self.cross_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ff_in = nn.Linear(cfg.d_model, cfg.d_ff)
        self.ff_out = nn.Linear(cfg.d_ff, cfg.d_model)
        self.ff_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
                cache: dict | None = None) -> torch.Tensor:
        x = self.attn_norm(x + self.dropout(cached_self_attention(self.attn, x, cache, self.training)))
        x = self.cross_norm(x + self.dropout(self.cross(x, context, context_mask, cache)))
        return self.ff_norm(x + self.dropout(self.ff_out(F.gelu(self.ff_in(x)))))


# Parameters an encoder block and a decoder block share by name (XNLG copies them; cross-attention is new).
SHARED_WITH_ENCODER = ("attn", "attn_norm", "ff_in", "ff_out", "ff_norm")


class Decoder(nn.Module):
    """``n_layers`` decoder blocks over the encoder's embeddings, with an LM head tied to the token embeddings."""

    def __init__(self, cfg: ModelConfig, embeddings: Embeddings) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings_ref = [embeddings]  # a list: the encoder owns (and saves) the shared embeddings
        self.layers = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.n_layers))
        self.lm = LMHead(cfg, embeddings.word)

    @property
    def embeddings(self) -> Embeddings:
        return self.embeddings_ref[0]

    @torch.no_grad()
    def init_from_encoder(self, encoder: nn.Module, lm_state: dict[str, torch.Tensor] | None = None) -> None:
        """XNLG's initialisation: each block's self-attention and feed-forward from the encoder's block of the
        same index; the output transform from an LM head's weights (``dense.*``, ``norm.*``, ``bias``) if given."""
        for mine, theirs in zip(self.layers, encoder.layers):
            for name in SHARED_WITH_ENCODER:
                getattr(mine, name).load_state_dict(copy.deepcopy(getattr(theirs, name).state_dict()))
        if lm_state:
            self.lm.load_state_dict({k: v.clone() for k, v in lm_state.items()})

    def init_from(self, model: nn.Module, loaded: dict[str, torch.Tensor]) -> None:
        """Called by the run when ``model.init`` (whose weights by our names are ``loaded``) had no decoder: the
        checkpoint's LM head (``heads.lm.*``, kept even when this model has no ``lm`` head) seeds the output."""
        lm = {k.removeprefix("heads.lm."): v for k, v in loaded.items() if k.startswith("heads.lm.")}
        self.init_from_encoder(model.encoder, lm if set(lm) == set(self.lm.state_dict()) else None)

    def hidden(self, input_ids: torch.Tensor, lang_ids: torch.Tensor | None, context: torch.Tensor,
               context_mask: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """(B, t) decoder tokens (the next ones after ``cache``'s) -> (B, t, D) last hidden states."""
        start = cache.length if cache is not None else 0
        positions = torch.arange(start, start + input_ids.shape[1], device=input_ids.device).unsqueeze(0)  # (1, t)
        x = self.embeddings(input_ids, positions, lang_ids, None)  # (B, t, D)
        if self.training and not self.embeddings.training:
            # A frozen encoder stays in eval mode, its embeddings too (PretrainModel.train); the decoder's
            # input keeps the embedding dropout it trains with when nothing is frozen.
            x = F.dropout(x, self.embeddings.dropout.p, training=True)
        for i, layer in enumerate(self.layers):
            x = layer(x, context, context_mask, None if cache is None else cache.layers[i])
        return x

    def forward(self, input_ids: torch.Tensor, lang_ids: torch.Tensor | None, context: torch.Tensor,
                context_mask: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """(B, t) decoder tokens -> (B, t, V) next-token logits."""
        return self.lm(self.hidden(input_ids, lang_ids, context, context_mask, cache))


def decoder_of(model: nn.Module) -> Decoder:
    if "decoder" not in getattr(model, "heads", {}):
        raise KeyError("model has no 'decoder' head: train it with a generation objective (dae, xae, bt)")
    return model.heads["decoder"]


def encode_source(model: nn.Module, src) -> torch.Tensor:
    """The encoder's (B, S, D) output for a TokenBatch of source sentences."""
    return model.encoder(**src.encoder_inputs()).last_hidden


def teacher_forced(model: nn.Module, batch) -> torch.Tensor:
    """(B, T, D) decoder hidden states of a :class:`~interlingua.data.seq2seq_batches.Seq2SeqBatch`'s targets."""
    context = encode_source(model, batch.src)  # (B, S, D)
    return decoder_of(model).hidden(batch.tgt.input_ids, batch.tgt.lang_ids, context, batch.src.attn_mask.bool())


def default_max_len(src_lengths: torch.Tensor, ratio: float = 1.3, extra: int = 5,
                    max_positions: int | None = None) -> torch.Tensor:
    """Generation budget per sentence (B,): ``⌊ratio·|x|⌋ + extra`` generated tokens (``</s>`` included), |x|
    the source's tokens with its ``<s>``/``</s>``, at most ``max_positions``.

    The cap: the decoder reads ``<s>`` at position 0 and generated token t at position t, and never reads back
    the last one, so L generated tokens use positions 0 … L - 1. XLM's ``1.3·|x| + 5`` differs in two ways: its
    ``max_len`` also counts the start token and the ``</s>`` it forces, and it takes the batch's longest |x|.
    """
    budget = (src_lengths.float() * ratio + extra).floor().long()
    return budget if max_positions is None else budget.clamp(max=max_positions)
