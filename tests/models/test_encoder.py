"""The encoder's extension branches: pairwise masks, returned attention, ``inputs_embeds``, the momentum twin.

The reference for one layer is written out by hand from the module's own weights (post-LN BERT block):

    q, k, v = x W_q^T + b_q, x W_k^T + b_k, x W_v^T + b_v     rows [0:D], [D:2D], [2D:3D] of qkv
    P       = softmax(q_h k_h^T / sqrt(D/H) + M)              M = 0 where allowed, -inf elsewhere
    h       = LN(x + concat_h(P v_h) W_o^T + b_o)
    y       = LN(h + W_2 gelu(W_1 h + b_1) + b_2)

``init_std`` is raised to 0.3 so that attention is far from uniform: with BERT's 0.02 every score is ~0 and
a wrong mask or a wrong head split would still give nearly the same output.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from interlingua.config import ModelConfig
from interlingua.models.encoder import Block, Encoder, ema_update, eval_mode, momentum_copy

B, T, D, H, V = 2, 5, 16, 2, 30
IDS = torch.tensor([[5, 9, 12, 7, 3], [8, 8, 21, 4, 1]])  # (B, T); example 1's last token is padding
PAD = torch.tensor([[True] * 5, [True, True, True, True, False]])  # (B, T) True = real token


def tiny_encoder(n_layers: int = 1, **kw) -> Encoder:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, d_model=D, n_layers=n_layers, n_heads=H, d_ff=32, max_positions=16,
                      dropout=0.0, attn_dropout=0.0, init_std=0.3, **kw)
    return Encoder(cfg).eval()


def reference_layer(block: Block, x: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D) input, (B, 1|H, T, T) boolean ``allowed`` -> the block's (B, T, D) output and (B, H, T, T) P."""
    W, b = block.attn.qkv.weight, block.attn.qkv.bias  # (3D, D), (3D,)
    q, k, v = (F.linear(x, W[i * D : (i + 1) * D], b[i * D : (i + 1) * D]).view(B, T, H, D // H).transpose(1, 2)
               for i in range(3))  # 3 x (B, H, T, Dh)
    additive = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H) + additive, dim=-1)  # (B, H, T, T)
    a = F.linear((probs @ v).transpose(1, 2).reshape(B, T, D), block.attn.out.weight, block.attn.out.bias)
    eps = block.attn_norm.eps
    h = F.layer_norm(x + a, (D,), block.attn_norm.weight, block.attn_norm.bias, eps)
    f = F.linear(F.gelu(F.linear(h, block.ff_in.weight, block.ff_in.bias)), block.ff_out.weight, block.ff_out.bias)
    return F.layer_norm(h + f, (D,), block.ff_norm.weight, block.ff_norm.bias, eps), probs


def camlm_mask() -> torch.Tensor:
    """(B, T, T) written out: example 0 is CAMLM (sentence A = 0-1 sees only B = 2-4 and back); example 1
    attends among its 4 real tokens, and its padding row 4 sees nothing."""
    m = torch.zeros(B, T, T, dtype=torch.bool)
    m[0, :2, 2:] = True
    m[0, 2:, :2] = True
    m[1, :4, :4] = True
    return m


def camlm_allowed() -> torch.Tensor:
    """What the encoder must attend with: :func:`camlm_mask`, but the empty row 4 of example 1 sees itself
    (else softmax over all -inf is NaN); (B, 1, T, T)."""
    allowed = camlm_mask()
    allowed[1, 4, 4] = True
    return allowed[:, None]


@pytest.mark.parametrize("per_head", [False, True])
def test_pairwise_mask_matches_hand_written_attention(per_head: bool) -> None:
    enc = tiny_encoder()
    x = enc.embeddings(IDS, None, None, None)  # (B, T, D)
    if per_head:  # head 0: CAMLM; head 1: the transpose (key j sees query i), padding row still empty
        mask = torch.stack([camlm_mask(), camlm_mask().transpose(1, 2)], dim=1)  # (B, H, T, T)
        allowed = torch.cat([camlm_allowed(), camlm_allowed().transpose(2, 3)], dim=1)
    else:
        mask, allowed = camlm_mask(), camlm_allowed()
    with torch.no_grad():
        want, _ = reference_layer(enc.layers[0], x, allowed)
        got = enc(IDS, mask).last_hidden
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # The mask matters: attending everywhere gives another output for every real token.
    with torch.no_grad():
        unmasked = enc(IDS).last_hidden
    assert (unmasked - got)[PAD].abs().amax(-1).min() > 1e-3


# case -> (attn_mask, causal, allowed (B, 1, T, T) written out)
TRIL = torch.ones(T, T, dtype=torch.bool).tril()
MASK_CASES = {
    "padding": (PAD, False, PAD[:, None, None, :].expand(B, 1, T, T)),
    "pairwise": (camlm_mask(), False, camlm_allowed()),
    "causal": (None, True, TRIL.expand(B, 1, T, T)),
    "causal+padding": (PAD, True, PAD[:, None, None, :] & TRIL),
}


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_returned_attention_probabilities(case: str) -> None:
    """Rows are distributions over the allowed keys only, equal to the hand-written P, and computing them
    explicitly (``attn_layers``) leaves every layer's output as fused SDPA gives it."""
    attn_mask, causal, allowed = MASK_CASES[case]
    enc = tiny_encoder(n_layers=2)
    with torch.no_grad():
        fused = enc(IDS, attn_mask, causal=causal, output_hidden_states=True)
        explicit = enc(IDS, attn_mask, causal=causal, attn_layers=(0, 1), output_hidden_states=True)
        _, want_probs = reference_layer(enc.layers[0], enc.embeddings(IDS, None, None, None), allowed)
    assert fused.attentions == {}
    assert sorted(explicit.attentions) == [0, 1]
    for probs in explicit.attentions.values():
        assert probs.shape == (B, H, T, T)
        torch.testing.assert_close(probs.sum(-1), torch.ones(B, H, T), atol=1e-6, rtol=0)
        assert (probs.masked_select(~allowed.expand(B, H, T, T)) == 0).all()
    p0 = explicit.attentions[0]
    torch.testing.assert_close(p0, want_probs, atol=1e-6, rtol=1e-5)
    assert (p0.amax(-1) - p0.masked_fill(~allowed, 1.0).amin(-1)).max() > 0.05  # not uniform: a real test
    for got, want in zip(explicit.hidden_states, fused.hidden_states, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_attn_layers_returns_only_the_layers_asked_for() -> None:
    enc = tiny_encoder(n_layers=2)
    with torch.no_grad():
        out = enc(IDS, PAD, attn_layers=(1,))
    assert sorted(out.attentions) == [1]


def test_single_allowed_key_copies_its_value() -> None:
    """A query allowed one key j has P[i] = one-hot(j), so its attention output is exactly v_j W_o^T + b_o:
    with every query of example 0 pointed at key 3, all attention outputs are the same vector."""
    enc = tiny_encoder()
    mask = torch.zeros(B, T, T, dtype=torch.bool)
    mask[:, :, 3] = True
    x = enc.embeddings(IDS, None, None, None)
    with torch.no_grad():
        a, probs = enc.layers[0].attn(x, mask[:, None], causal=False, want_probs=True)
        v3 = F.linear(x[:, 3], enc.layers[0].attn.qkv.weight[2 * D :], enc.layers[0].attn.qkv.bias[2 * D :])
    assert (probs[..., 3] == 1).all()
    torch.testing.assert_close(a, enc.layers[0].attn.out(v3)[:, None].expand(B, T, D), atol=1e-6, rtol=1e-6)


def test_inputs_embeds_equals_input_ids() -> None:
    """``inputs_embeds = word(ids)`` replaces only the word lookup: positions, language and segment tables are
    still added. The gradient reaches the embeddings passed in, not the word table."""
    enc = tiny_encoder(lang_embeddings=True, n_langs=3, n_segments=2)
    lang = torch.tensor([[0, 0, 2, 2, 2], [1, 1, 1, 0, 0]])
    seg = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 1, 1]])
    pos = torch.tensor([[0, 1, 0, 1, 2], [0, 1, 2, 3, 4]])
    want = enc(IDS, PAD, pos, lang, seg).last_hidden
    embeds = enc.embeddings.word(IDS).detach().requires_grad_()  # (B, T, D)
    got = enc(None, PAD, pos, lang, seg, inputs_embeds=embeds).last_hidden
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    got[PAD].sum().backward()
    assert embeds.grad is not None and embeds.grad[PAD].abs().amax(-1).min() > 0
    assert enc.embeddings.word.weight.grad is None
    # And it is used: other embeddings, other output (input_ids, if passed too, is ignored). Not a constant
    # shift, which the embedding LayerNorm would remove.
    other = enc(IDS, PAD, pos, lang, seg, inputs_embeds=torch.randn(B, T, D)).last_hidden
    assert (other - want).abs().max() > 1e-2


def test_momentum_copy_starts_equal_frozen_and_separate() -> None:
    enc = tiny_encoder()
    twin = momentum_copy(enc)
    pairs = list(zip(enc.named_parameters(), twin.named_parameters(), strict=True))
    for (name, p), (twin_name, t) in pairs:
        assert name == twin_name
        assert torch.equal(p, t) and p.data_ptr() != t.data_ptr()
        assert p.requires_grad and not t.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(twin(IDS, PAD).last_hidden, enc(IDS, PAD).last_hidden, atol=0, rtol=0)
    assert not twin(IDS, PAD).last_hidden.requires_grad
    with torch.no_grad():
        enc.layers[0].ff_in.weight.add_(1.0)  # an optimiser step on the online encoder...
    assert not torch.equal(enc.layers[0].ff_in.weight, twin.layers[0].ff_in.weight)  # ...leaves the twin


def test_ema_update_by_hand() -> None:
    """θ' <- m θ' + (1 - m) θ. With every twin value 1, every online value 3 and m = 0.9:
    step 1: 0.9 * 1 + 0.1 * 3 = 1.2; step 2: 0.9 * 1.2 + 0.1 * 3 = 1.38. The online encoder is untouched."""
    enc = tiny_encoder()
    twin = momentum_copy(enc)
    with torch.no_grad():
        for t, p in zip(twin.parameters(), enc.parameters(), strict=True):
            t.fill_(1.0)
            p.fill_(3.0)
    ema_update(twin, enc, 0.9)
    assert all(torch.allclose(t, torch.full_like(t, 1.2)) for t in twin.parameters())
    ema_update(twin, enc, 0.9)
    assert all(torch.allclose(t, torch.full_like(t, 1.38)) for t in twin.parameters())
    assert all(torch.equal(p, torch.full_like(p, 3.0)) for p in enc.parameters())
    assert not any(t.requires_grad for t in twin.parameters())


def test_ema_update_on_distinct_values() -> None:
    """Element-wise, per parameter: m = 0.75, twin [0, 4], online [8, -4] -> [0.75 * 0 + 0.25 * 8,
    0.75 * 4 + 0.25 * (-4)] = [2, 2]; and on the random initialisations, m θ' + (1 - m) θ element by element."""
    enc = tiny_encoder()
    twin = momentum_copy(enc)
    with torch.no_grad():
        twin.layers[0].ff_out.bias[:2] = torch.tensor([0.0, 4.0])
        enc.layers[0].ff_out.bias[:2] = torch.tensor([8.0, -4.0])
        torch.manual_seed(1)
        for p in enc.parameters():
            if p is not enc.layers[0].ff_out.bias:
                p.add_(torch.randn_like(p))
    before = [t.clone() for t in twin.parameters()]
    ema_update(twin, enc, 0.75)
    assert twin.layers[0].ff_out.bias[:2].tolist() == [2.0, 2.0]
    for t0, t, p in zip(before, twin.parameters(), enc.parameters(), strict=True):
        torch.testing.assert_close(t, 0.75 * t0 + 0.25 * p)


@pytest.mark.parametrize("start_training", [True, False])
def test_eval_mode_restores_the_mode_even_after_an_error(start_training: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Dropout(0.5))
    model.train(start_training)
    with eval_mode(model):
        assert not model.training and not model[0].training
    assert model.training is start_training
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("inside")
    assert model.training is start_training and model[0].training is start_training


def test_ema_update_refuses_a_twin_of_another_shape() -> None:
    with pytest.raises(ValueError, match="weight"):
        ema_update(torch.nn.Linear(2, 3), torch.nn.Linear(2, 4), 0.5)
    with pytest.raises(ValueError):  # zip(strict=True): one more parameter on one side
        ema_update(torch.nn.Linear(2, 3, bias=False), torch.nn.Linear(2, 3), 0.5)
