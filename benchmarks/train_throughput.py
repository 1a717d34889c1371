"""MLM training throughput: interlingua's step against ``transformers.XLMRobertaForMaskedLM``.

Both models get identical dimensions, vocabulary, dropout and random token batches (15 % of tokens
chosen, 80 % <mask> / 10 % random / 10 % kept), the same AdamW (``build_optimizer``: fused), and run
a full training step: forward, loss, backward, optimizer step, zero_grad. Ours is
``masked_prediction(model, batch, "mlm")`` (vocabulary projection only at the masked positions); Hugging
Face's is its standard loss (``labels`` = -100 elsewhere, full-vocabulary logits at every position),
with ``attn_implementation="sdpa"``. After warm-up steps, the two models' timed rounds alternate in one
process and medians are reported, so background load hits both alike.

Useful model FLOPs per step (what the MLM objective needs; counted the same for both models):

    6 · P_blocks · B·T              P_blocks = L · (4·d² + 2·d·d_ff), the block weight matrices
  + 12 · L · T · d · B·T            attention scores QKᵀ and values PV, 2·T·d each, ×3 for fwd + bwd
  + 6 · (d² + d·V) · M              LM head dense + vocabulary projection at the M masked tokens only

Biases, norms, softmax and embeddings lookups are not counted. Hugging Face also projects the
unmasked positions onto the vocabulary; that work is not useful and is not counted.
MFU = useful FLOPs / step time / the fp32 matmul rate measured here (best of a few ``torch.mm`` of
2048³ with the same thread count, re-measured in every round, median over rounds).

    python benchmarks/train_throughput.py                 # default: 4 layers, d=256, V=32k, T=128
    python benchmarks/train_throughput.py --compile       # our encoder through torch.compile
    python benchmarks/train_throughput.py --fused-adamw   # AdamW(fused=True) for both (build_optimizer's default now)

The last line is ``ratio_vs_hf=X.XX mfu=Y.YY`` (ratio = our tokens/s over Hugging Face's).
"""
from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from _args import parse_dataclass_args  # benchmarks/ is on sys.path when a script here runs

from interlingua.config import ModelConfig, TrainConfig
from interlingua.data.batches import TokenBatch
from interlingua.data.masking import mask_tokens
from interlingua.models.heads import PretrainModel
from interlingua.objectives.mlm import masked_prediction
from interlingua.training.optim import build_optimizer

N_SPECIAL = 4  # ids 0..3 are <s> <pad> </s> <unk> as in XLM-R; random tokens avoid them


@dataclass
class Args:
    layers: int = 4
    d_model: int = 256
    heads: int = 4
    d_ff: int = 1024
    vocab: int = 32000
    seq: int = 128
    batch: int = 16
    steps: int = 2
    """Timed steps per round and model."""
    rounds: int = 7
    warmup: int = 2
    threads: int = 2
    dropout: float = 0.1
    """Hidden and attention dropout of both models (0.1 = ``ModelConfig``'s default, the recipes' value)."""
    compile: bool = False
    """Run our encoder through ``torch.compile`` (Hugging Face's model stays eager)."""
    fused_adamw: bool = False
    """Both models: ``build_optimizer``'s groups and hyper-parameters, but ``AdamW(fused=True)``."""
    seed: int = 0


def parse_args() -> Args:
    return parse_dataclass_args(Args, __doc__.split("\n\n")[0])


def make_batch(a: Args, gen: torch.Generator) -> TokenBatch:
    """A (B, T) batch of random tokens, no padding, masked BERT-style; the last id is <mask>."""
    ids = torch.randint(N_SPECIAL, a.vocab - 1, (a.batch, a.seq), generator=gen)  # (B, T)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    ids, labels = mask_tokens(ids, maskable, gen, mask_id=a.vocab - 1, vocab_size=a.vocab - 1, low=N_SPECIAL)
    return TokenBatch(ids, torch.ones_like(ids, dtype=torch.bool), labels)


def useful_flops(a: Args, n_masked: int) -> float:
    """Useful model FLOPs of one training step (see the module docstring)."""
    tokens = a.batch * a.seq
    blocks = 6 * a.layers * (4 * a.d_model**2 + 2 * a.d_model * a.d_ff) * tokens
    attention = 12 * a.layers * a.seq * a.d_model * tokens
    head = 6 * (a.d_model**2 + a.d_model * a.vocab) * n_masked
    return float(blocks + attention + head)


def matmul_rate(threads: int, n: int = 2048, reps: int = 3) -> float:
    """Best fp32 ``torch.mm`` rate in FLOP/s over ``reps`` products of n×n by n×n."""
    torch.set_num_threads(threads)
    x, y = torch.randn(n, n), torch.randn(n, n)
    out = torch.mm(x, y)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(x, y, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def build_ours(a: Args) -> tuple[torch.nn.Module, Callable[[TokenBatch], torch.Tensor]]:
    cfg = ModelConfig(
        vocab_size=a.vocab, d_model=a.d_model, n_layers=a.layers, n_heads=a.heads, d_ff=a.d_ff,
        max_positions=a.seq, dropout=a.dropout, attn_dropout=a.dropout,
    )
    model = PretrainModel(cfg, heads=["lm"]).train()
    if a.compile:
        model.encoder.compile()  # in place: state_dict keys unchanged

    def loss_fn(batch: TokenBatch) -> torch.Tensor:
        loss_sum, n, _ = masked_prediction(model, batch, "mlm")
        return loss_sum / n

    return model, loss_fn


def build_hf(a: Args) -> tuple[torch.nn.Module, Callable[[TokenBatch], torch.Tensor]]:
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    cfg = XLMRobertaConfig(
        vocab_size=a.vocab, hidden_size=a.d_model, num_hidden_layers=a.layers, num_attention_heads=a.heads,
        intermediate_size=a.d_ff, max_position_embeddings=a.seq + 2, type_vocab_size=1,
        hidden_dropout_prob=a.dropout, attention_probs_dropout_prob=a.dropout, layer_norm_eps=1e-12,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )
    model = XLMRobertaForMaskedLM._from_config(cfg, attn_implementation="sdpa").train()

    def loss_fn(batch: TokenBatch) -> torch.Tensor:
        return model(input_ids=batch.input_ids, attention_mask=batch.attn_mask.long(), labels=batch.labels).loss

    return model, loss_fn


def make_step(
    model: torch.nn.Module, loss_fn: Callable[[TokenBatch], torch.Tensor], fused: bool
) -> Callable[[TokenBatch], None]:
    opt = build_optimizer(model, TrainConfig())
    if fused:
        keep = ("params", "lr", "betas", "eps", "weight_decay")  # not "foreach", which a group would keep
        opt = torch.optim.AdamW([{k: g[k] for k in keep} for g in opt.param_groups], fused=True)

    def step(batch: TokenBatch) -> None:
        loss_fn(batch).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def timed(step: Callable[[TokenBatch], None], batches: list[TokenBatch]) -> float:
    """Seconds per step over ``batches``."""
    t0 = time.perf_counter()
    for b in batches:
        step(b)
    return (time.perf_counter() - t0) / len(batches)


def main() -> None:
    a = parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")
    gen = torch.Generator().manual_seed(a.seed)
    batches = [make_batch(a, gen) for _ in range(a.steps)]
    n_masked = statistics.mean(b.num_items for b in batches)
    flops = useful_flops(a, n_masked)

    steps = {
        "interlingua": make_step(*build_ours(a), a.fused_adamw),
        "hf_xlmr": make_step(*build_hf(a), a.fused_adamw),
    }
    for step in steps.values():
        for i in range(a.warmup):
            step(batches[i % len(batches)])

    secs: dict[str, list[float]] = {name: [] for name in steps}
    peaks = []
    for r in range(a.rounds):
        peaks.append(matmul_rate(a.threads))
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        for name in order:
            secs[name].append(timed(steps[name], batches))
    peak = statistics.median(peaks)
    tokens = a.batch * a.seq

    print(f"config: L={a.layers} d={a.d_model} H={a.heads} d_ff={a.d_ff} V={a.vocab} T={a.seq} B={a.batch} "
          f"dropout={a.dropout} threads={a.threads} compile={a.compile} fused_adamw={a.fused_adamw} "
          f"steps={a.steps}x{a.rounds} rounds warmup={a.warmup}")
    print(f"fp32 matmul peak (2048^3 torch.mm, median of rounds): {peak / 1e9:.1f} GFLOP/s")
    print(f"useful FLOPs/step: {flops / 1e9:.2f} G ({n_masked:.0f} masked of {tokens} tokens)")
    print(f"{'model':<12} {'s/step':>8} {'tokens/s':>9} {'GFLOP/s':>8} {'mfu':>5} {'best s/step':>12}")
    tps = {}
    for name, s in secs.items():
        med = statistics.median(s)
        tps[name] = tokens / med
        print(f"{name:<12} {med:8.3f} {tps[name]:9.0f} {flops / med / 1e9:8.1f} {flops / med / peak:5.2f} {min(s):12.3f}")
    mfu = flops / statistics.median(secs["interlingua"]) / peak
    print(f"ratio_vs_hf={tps['interlingua'] / tps['hf_xlmr']:.2f} mfu={mfu:.2f}")


if __name__ == "__main__":
    main()
