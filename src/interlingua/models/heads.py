"""Task heads and the pre-training model that holds an encoder plus the heads its objectives need.

Heads carry no losses: objectives (``interlingua.objectives``) take the model and a batch and return
``(loss_sum, num_items, metrics)``. Names follow Hugging Face's ``BertForPreTraining`` heads
(``cls.predictions.*``, ``bert.pooler.*``, ``cls.seq_relationship.*``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from interlingua.config import ModelConfig
from interlingua.models.encoder import Encoder


class LMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> projection tied to the word embeddings (+ bias)."""

    def __init__(self, cfg: ModelConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.word_embeddings = [word_embeddings]  # a list so the tied weight is not registered twice

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, D) hidden states at the positions to predict -> (N, V) logits."""
        h = self.norm(F.gelu(self.dense(hidden)))
        return F.linear(h, self.word_embeddings[0].weight, self.bias)


class SentencePairHead(nn.Module):
    """BERT pooler (dense + tanh on [CLS]) followed by a linear classifier, for NSP."""

    def __init__(self, cfg: ModelConfig, n_classes: int = 2) -> None:
        super().__init__()
        self.pooler = nn.Linear(cfg.d_model, cfg.d_model)
        self.classifier = nn.Linear(cfg.d_model, n_classes)

    def forward(self, cls_hidden: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.tanh(self.pooler(cls_hidden)))  # (B, n_classes)


class TwoTowerHead(nn.Module):
    """Task-specific hidden layers on top of the shared sentence vector, one tower per side (mUSE's QA)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.question = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.answer = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))


class PairClassifierHead(nn.Module):
    """A task-specific hidden layer and a classifier over pair features, e.g. [u, v, |u-v|, u*v] for NLI."""

    def __init__(self, cfg: ModelConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_features * cfg.d_model, cfg.d_model)
        self.classifier = nn.Linear(cfg.d_model, n_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.gelu(self.hidden(features)))  # (B, n_classes)


HEADS = {
    "lm": lambda cfg, enc: LMHead(cfg, enc.embeddings.word),
    "nsp": lambda cfg, enc: SentencePairHead(cfg, 2),
    "tgt_encoder": lambda cfg, enc: Encoder(cfg),  # dual encoder with unshared weights (translation_ranking)
    "qa": lambda cfg, enc: TwoTowerHead(cfg),
    "nli": lambda cfg, enc: PairClassifierHead(cfg, 4, 3),
    "decoder": lambda cfg, enc: _decoder(cfg, enc),  # generation (dae, xae, bt): models.seq2seq
}


def _decoder(cfg: ModelConfig, enc: Encoder) -> nn.Module:
    from interlingua.models.seq2seq import Decoder  # it imports LMHead from here

    return Decoder(cfg, enc.embeddings)


def table_head(name: str, model: "PretrainModel") -> nn.Module:
    """A head of the shared table, initialised like the encoder (LM bias zero)."""
    if name not in HEADS:
        raise KeyError(f"no head {name!r} in the shared table (has: {', '.join(HEADS)})")
    head = HEADS[name](model.cfg, model.encoder)
    head.apply(model.encoder._init_weights)
    if isinstance(head, LMHead):
        nn.init.zeros_(head.bias)
    return head


class PretrainModel(nn.Module):
    """An :class:`Encoder` plus named heads; objectives look heads up by name.

    ``heads`` names heads of the shared table; objectives add their own with :meth:`add_heads`.
    """

    def __init__(self, cfg: ModelConfig, heads: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.heads = nn.ModuleDict()
        for name in sorted(set(heads)):
            self.heads[name] = table_head(name, self)

    def train(self, mode: bool = True) -> "PretrainModel":
        """As ``nn.Module.train``, except that a frozen encoder (``model.freeze_encoder``) stays in eval mode:
        with nothing of it learning, its dropout would only blur the features the heads learn from."""
        super().train(mode)
        if mode and self.cfg.freeze_encoder:
            self.encoder.eval()
        return self

    def add_heads(self, modules: dict[str, nn.Module]) -> None:
        """Add modules under their names; a name already present is kept (two objectives share one LM head)."""
        for name in sorted(modules):
            if name not in self.heads:
                self.heads[name] = modules[name]

    def head(self, name: str) -> nn.Module:
        if name not in self.heads:
            raise KeyError(f"model has no {name!r} head (has: {', '.join(self.heads) or 'none'})")
        return self.heads[name]
