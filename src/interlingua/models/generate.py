"""Batched greedy and beam search over a :class:`~interlingua.models.seq2seq.Decoder`, with its KV cache.

Search follows Hugging Face's ``generate`` step for step, so an exported model gives the same tokens there:

- greedy: the arg-max token each step; a finished sentence is padded until every sentence is done;
- beam: each step ranks the ``2·k`` best continuations of a sentence's ``k`` beams by summed log-probability;
  those that end (``</s>`` or the length budget) among the first ``k`` join the finished hypotheses with the
  score ``log p / len^length_penalty``; the ``k`` best unfinished ones continue. A sentence is done when its
  best running beam, normalised at the current length, cannot beat its worst finished hypothesis.

The budget is per sentence: ``max_len`` generated tokens (``</s>`` included), by default
``⌊1.3 · |x|⌋ + 5`` with |x| the source length in tokens (XLM's formula; how its count differs:
``models.seq2seq.default_max_len``), never more than the decoder's positions. Hugging Face's ``max_length``
counts the start token too, so ``max_len = L`` matches ``max_length = L + 1``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from interlingua.data.batches import TokenBatch
from interlingua.models.encoder import eval_mode
from interlingua.models.seq2seq import KVCache, decoder_of, default_max_len, encode_source

NEG = -1.0e9
BLOCK = 64  # tokens per block when beam search ranks a step's continuations (see _top_continuations)


@dataclass
class SearchConfig:
    beam: int = 1
    """1 = greedy."""
    length_penalty: float = 1.0
    max_len: int | None = None
    """Generated tokens per sentence; None = ``⌊ratio·|x|⌋ + extra``; either capped at ``model.max_positions``."""
    ratio: float = 1.3
    extra: int = 5
    early_stopping: bool = False
    """Beam: a sentence is done once it has ``beam`` finished hypotheses (Hugging Face's ``early_stopping=True``);
    False: once no running beam can beat the worst of them at the current length (the default there and in XLM)."""


@dataclass
class Special:
    bos: int
    eos: int
    pad: int


def _limits(model: torch.nn.Module, src: TokenBatch, cfg: SearchConfig) -> torch.Tensor:
    """(B,) generated tokens allowed per sentence, never more than the decoder has positions for."""
    positions = decoder_of(model).embeddings.position.num_embeddings
    if cfg.max_len is not None:
        return torch.full((len(src),), min(cfg.max_len, positions), dtype=torch.long, device=src.input_ids.device)
    return default_max_len(src.lengths(), cfg.ratio, cfg.extra, positions)


def _strip(rows: torch.Tensor, eos: int, limits: torch.Tensor) -> list[list[int]]:
    """(B, T) generated ids (start token dropped) -> lists cut before the first ``</s>``, or at the budget."""
    out = []
    for row, n in zip(rows.tolist(), limits.tolist()):
        out.append(row[: row.index(eos)] if eos in row[:n] else row[:n])
    return out


@torch.no_grad()
def generate(model: torch.nn.Module, src: TokenBatch, tgt_lang: int | torch.Tensor | None, special: Special,
             cfg: SearchConfig = SearchConfig()) -> list[list[int]]:
    """Token ids of each sentence's translation / reconstruction into language row ``tgt_lang`` (one for all,
    or a (B,) tensor of rows)."""
    if cfg.beam < 1:
        raise ValueError(f"beam must be >= 1, got {cfg.beam}")
    with eval_mode(model):
        search = greedy if cfg.beam == 1 else beam_search
        return search(model, src, tgt_lang, special, cfg)


class Stepper:
    """Runs the decoder one token at a time over (B·copies) rows, keeping the KV cache; :meth:`keep` drops the
    rows of finished sentences (their results no longer change) so later steps cost less."""

    def __init__(self, model: torch.nn.Module, src: TokenBatch, tgt_lang: int | torch.Tensor | None, copies: int):
        self.decoder, self.copies = decoder_of(model), copies
        self.context = encode_source(model, src)  # (B, S, D): the k rows of a sentence share it
        self.mask = src.attn_mask.bool()  # (B, S)
        self.cache = KVCache(len(self.decoder.layers))
        self.langs = None
        if self.decoder.embeddings.lang is not None:
            rows = torch.as_tensor(0 if tgt_lang is None else tgt_lang, device=self.context.device)
            self.langs = rows.expand(len(src)).repeat_interleave(copies)[:, None]  # (B·k, 1)

    def __call__(self, last: torch.Tensor) -> torch.Tensor:
        """(R,) last tokens -> (R, V) next-token logits."""
        if len(last) != self.copies * len(self.context):  # cross-attention would pair rows with other sources
            raise RuntimeError(f"{len(last)} decoder rows for {len(self.context)} sources × {self.copies}")
        return self.decoder(last[:, None], self.langs, self.context, self.mask, self.cache)[:, -1].float()

    def keep(self, rows: torch.Tensor, sentences: torch.Tensor | None = None) -> None:
        """Continue with rows ``rows`` (R',) of the current ones, in that order: the ``copies`` rows of each of
        the current sentences ``sentences`` (None: the same sentences as now, rows only move between beams)."""
        self.cache.reorder(rows, sentences)
        if sentences is None:
            return
        self.context, self.mask = self.context.index_select(0, sentences), self.mask.index_select(0, sentences)
        if self.langs is not None:
            self.langs = self.langs.index_select(0, rows)


def greedy(model: torch.nn.Module, src: TokenBatch, tgt_lang: int | torch.Tensor | None, special: Special,
           cfg: SearchConfig) -> list[list[int]]:
    limits = _limits(model, src, cfg)
    step = Stepper(model, src, tgt_lang, 1)
    B, T = len(src), int(limits.max())
    out = torch.full((B, T), special.pad, dtype=torch.long, device=limits.device)
    active = torch.arange(B, device=limits.device)  # sentences still being decoded
    last = torch.full((B,), special.bos, dtype=torch.long, device=limits.device)
    for t in range(1, T + 1):
        nxt = step(last).argmax(-1)  # (A,): the arg-max logit, as Hugging Face's greedy search takes
        out[active, t - 1] = nxt
        going = (nxt != special.eos) & (t < limits[active])  # (A,)
        if not bool(going.any()):
            break
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            step.keep(keep, keep)
            active, nxt = active[keep], nxt[keep]
        last = nxt
    return _strip(out, special.eos, limits)


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, N, ...) rows picked per sentence by index (B, M) -> (B, M, ...)."""
    shape = index.shape + (1,) * (x.dim() - 2)
    return x.gather(1, index.view(shape).expand(index.shape + x.shape[2:]))


@dataclass
class Beams:
    """Per active sentence: running beams and finished hypotheses (see the module doc)."""

    seqs: torch.Tensor  # (A, k, T + 1) running token ids, position 0 = the start token
    scores: torch.Tensor  # (A, k) summed log-probabilities
    fin: torch.Tensor  # (A, k, T + 1) finished hypotheses
    fin_scores: torch.Tensor  # (A, k) length-normalised, NEG where none yet
    fin_done: torch.Tensor  # (A, k) bool
    improvable: torch.Tensor  # (A,) bool: can a running beam still beat the worst finished one?

    def select(self, rows: torch.Tensor) -> "Beams":
        return Beams(*(getattr(self, f).index_select(0, rows) for f in
                       ("seqs", "scores", "fin", "fin_scores", "fin_done", "improvable")))


def _start(B: int, k: int, T: int, special: Special, dev: torch.device) -> Beams:
    seqs = torch.full((B, k, T + 1), special.pad, dtype=torch.long, device=dev)
    seqs[:, :, 0] = special.bos
    scores = torch.zeros(B, k, device=dev)
    scores[:, 1:] = NEG  # k identical start beams: only the first may expand
    return Beams(seqs, scores, seqs.clone(), torch.full((B, k), NEG, device=dev),
                 torch.zeros(B, k, dtype=torch.bool, device=dev), torch.ones(B, dtype=torch.bool, device=dev))


def _top_continuations(logp: torch.Tensor, scores: torch.Tensor, n: int):
    """The n best of each sentence's k·V sums ``scores[a, i] + logp[a·k + i, v]``: (A, n) values, descending,
    and their (A, n) beams and tokens. Equal to ``topk`` over the (A, k·V) sums, ties aside, but cheaper: the
    n best lie in the n blocks (of ``BLOCK`` tokens) with the highest maxima, so only those blocks are ranked
    (a block outside them has n elements at least as large, one in each of those n blocks)."""
    A, k = scores.shape
    V, block = logp.shape[1], BLOCK
    if V <= n * block:
        top, idx = (logp.view(A, k, V) + scores[..., None]).view(A, k * V).topk(n, dim=1)
        return top, idx // V, idx % V
    full = V // block
    maxima = logp[:, : full * block].unflatten(1, (full, block)).amax(-1)  # (A·k, full)
    if V % block:  # the last, shorter block
        maxima = torch.cat([maxima, logp[:, full * block:].amax(-1, keepdim=True)], 1)
    nb = maxima.shape[1]
    best = (maxima.view(A, k, nb) + scores[..., None]).view(A, k * nb).topk(n, dim=1).indices  # (A, n)
    beam, first = best // nb, (best % nb) * block
    pos = first[..., None] + torch.arange(block, device=logp.device)  # (A, n, block) token ids
    rows = beam + torch.arange(A, device=logp.device)[:, None] * k  # (A, n) rows of logp
    vals = logp[rows[..., None], pos.clamp(max=V - 1)] + _gather(scores, beam)[..., None]  # (A, n, block)
    vals = vals.masked_fill(pos >= V, float("-inf")).view(A, n * block)
    top, idx = vals.topk(n, dim=1)  # (A, n)
    return top, _gather(beam, idx // block), _gather(pos.view(A, n * block), idx)


def _advance(b: Beams, logp: torch.Tensor, cur: int, limits: torch.Tensor, k: int, lp: float,
             eos: int, early: bool) -> tuple[Beams, torch.Tensor]:
    """One beam step for A sentences; logp (A·k, V). Returns the new beams and each beam's parent (A, k)."""
    top, origin, token = _top_continuations(logp, b.scores, 2 * k)  # (A, 2k) each
    cand = _gather(b.seqs, origin)  # (A, 2k, T + 1)
    cand[:, :, cur] = token
    hits = (token == eos) | (cur >= limits)[:, None]  # (A, 2k)
    alive = top + hits.float() * NEG
    keep = alive.topk(k, dim=1).indices  # (A, k): the k best unfinished candidates go on
    ended = hits & (torch.arange(2 * k, device=top.device) < k)  # only the first k may finish
    normed = top / (cur ** lp) + (~b.improvable)[:, None].float() * NEG + (~ended).float() * NEG
    if early:  # a full set of finished hypotheses takes no more
        normed = normed + b.fin_done.all(1, keepdim=True).float() * NEG
    merged = torch.cat([b.fin_scores, normed], 1)
    best = merged.topk(k, dim=1).indices  # (A, k)
    nb = Beams(_gather(cand, keep), _gather(alive, keep), _gather(torch.cat([b.fin, cand], 1), best),
               _gather(merged, best), _gather(torch.cat([b.fin_done, ended], 1), best), b.improvable)
    worst = torch.where(nb.fin_done, nb.fin_scores.min(1, keepdim=True).values, torch.full_like(nb.fin_scores, NEG))
    nb.improvable = b.improvable & (nb.scores[:, :1] / (cur ** lp) > worst).any(1)
    if early:
        nb.improvable &= ~nb.fin_done.all(1)
    return nb, _gather(origin, keep)


def beam_search(model: torch.nn.Module, src: TokenBatch, tgt_lang: int | torch.Tensor | None, special: Special,
                cfg: SearchConfig) -> list[list[int]]:
    k, limits = cfg.beam, _limits(model, src, cfg)
    B, T, dev = len(src), int(limits.max()), limits.device
    step = Stepper(model, src, tgt_lang, k)
    beams, active = _start(B, k, T, special, dev), torch.arange(B, device=dev)
    final = beams.fin.clone()  # (B, k, T + 1): a sentence's hypotheses once it is done
    for cur in range(1, T + 1):
        logp = F.log_softmax(step(beams.seqs[:, :, cur - 1].reshape(-1)), -1)  # (A·k, V)
        beams, parents = _advance(beams, logp, cur, limits[active], k, cfg.length_penalty, special.eos,
                                  cfg.early_stopping)
        final[active] = beams.fin
        going = beams.improvable  # a sentence that cannot improve keeps its hypotheses: drop its rows
        if not bool(going.any()):
            break
        rows = parents + torch.arange(len(active), device=dev)[:, None] * k  # (A, k) rows of the current step
        if bool(going.all()):
            step.keep(rows.reshape(-1))
        else:
            kept = going.nonzero().squeeze(1)
            step.keep(rows[kept].reshape(-1), kept)
            beams, active = beams.select(kept), active[kept]
    return _strip(final[:, 0, 1:], special.eos, limits)
