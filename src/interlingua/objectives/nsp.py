"""Next sentence prediction (BERT, mBERT).

    L_NSP = - Σ_b log p(c_b | [CLS] A_b [SEP] B_b [SEP]),   c_b ∈ {IsNext = 1, NotNext = 0}

Half of the rows pair sentence i of a document with sentence i + 1 (IsNext), half with a sentence of
another randomly drawn document (NotNext). Segment embeddings mark A (0) and B (1); the classifier reads
the pooled ``<s>`` state. Summed over rows; the item count is the number of rows.

Documents: Bible chapters in verse order, or UDHR texts in paragraph order (``data.documents``).
Related: ``mlm`` (mBERT trains both). Reference: Devlin et al. 2019, BERT.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from interlingua.data.batches import SentencePairBatch
from interlingua.data.collate import Segment, pack
from interlingua.data.pool import Pool
from interlingua.objectives.base import LossOut, Objective, ObjectiveConfig
from interlingua.registry import register


def nsp_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2) logits, (B,) labels -> (summed cross-entropy, number correct)."""
    return F.cross_entropy(logits.float(), labels, reduction="sum"), (logits.argmax(-1) == labels).sum()


def _rint(n: int, gen: torch.Generator) -> int:
    return int(torch.randint(n, (1,), generator=gen))


@register("objective", "nsp", ObjectiveConfig)
class NSP(Objective):
    name = "nsp"
    needs = ("docs",)
    heads = ("nsp",)

    def _pair(self, pool: Pool, lang: str, doc: list[list[int]], is_next: bool, gen: torch.Generator):
        i = _rint(len(doc) - 1, gen)
        if is_next:
            return doc[i], doc[i + 1]
        other = pool.docs[lang]
        j = _rint(len(other), gen)
        if len(other) > 1 and other[j] is doc:
            j = (j + 1) % len(other)
        return doc[i], other[j][_rint(len(other[j]), gen)]

    def make_batch(self, pool: Pool, n: int, gen: torch.Generator) -> SentencePairBatch:
        drawn = pool.sample_docs(n, gen)
        labels = (torch.rand(n, generator=gen) < 0.5).long()
        rows = []
        for (lang, doc), y in zip(drawn, labels.tolist()):
            a, b = self._pair(pool, lang, doc, bool(y), gen)
            li = self.vocab.lang_index(lang)
            rows.append([Segment(a, li), Segment(b, li)])
        p = pack(rows, self.vocab, self.max_len)
        no_labels = torch.full_like(p.input_ids, -100)
        return SentencePairBatch(p.input_ids, p.attn_mask, no_labels, p.position_ids, p.lang_ids, p.segment_ids,
                                 class_labels=labels)

    def __call__(self, model: torch.nn.Module, batch: SentencePairBatch) -> LossOut:
        hidden = model.encoder(**batch.encoder_inputs()).last_hidden  # (B, T, D)
        loss, correct = nsp_loss_sum(model.head("nsp")(hidden[:, 0]), batch.class_labels)
        n = batch.class_labels.numel()
        return loss, n, {"train/nsp/loss_sum": float(loss.detach()), "train/nsp/correct": float(correct), "train/nsp/n": n}
