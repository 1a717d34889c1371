"""Generation throughput: our batched beam search against ``transformers``' ``generate`` on the exported model.

The model is a run folder with a decoder (``--model``), or by default a random encoder-decoder of the
``xnlg`` recipe's size (d 256, 4 + 4 layers, 24k vocabulary) whose weights are scaled so that outputs vary and
end at different lengths. It is exported with ``export_seq2seq`` and loaded back as
``EncoderDecoderModel``. Both get the same source batches (token ids, lengths drawn from Multi30k's German
test captions), beam size, length penalty and budget (``max_len`` tokens; HF ``max_length = max_len + 1``),
the same thread count; timed rounds alternate and medians are compared. The outputs are compared token by
token and the script fails if they differ.

    python benchmarks/generate_throughput.py                 # ~2 minutes on one core
    python benchmarks/generate_throughput.py --model runs/xnlg --beam 4

The last line is ``ratio_vs_hf=X.XX`` (our sentences per second over transformers').
"""
from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from _args import parse_dataclass_args  # benchmarks/ is on sys.path when a script here runs


@dataclass
class Args:
    model: str = ""
    """A run folder with a decoder; empty: a random xnlg-sized model."""
    tgt_lang: str = "eng"
    sentences: int = 128
    batch_size: int = 32
    beam: int = 4
    length_penalty: float = 1.0
    early_stopping: bool = False
    """Both sides: a sentence is done once it has ``beam`` finished hypotheses."""
    max_len: int = 30
    rounds: int = 3
    threads: int = 1
    seed: int = 0


def random_model(seed: int):
    from interlingua.config import ModelConfig
    from interlingua.models.heads import PretrainModel
    from interlingua.tokenization.vocab import SPECIALS, Vocab, lang_tag
    from tokenizers import Tokenizer, models

    langs = ["deu", "eng"]
    table = {t: i for i, t in enumerate(SPECIALS + [lang_tag(lang) for lang in langs])}
    table.update({f"w{i}": len(table) + i for i in range(24000 - len(table))})
    vocab = Vocab(Tokenizer(models.WordLevel(table, unk_token="<unk>")), langs)
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab.size, d_model=256, n_layers=4, n_heads=4, d_ff=1024, max_positions=128,
                      lang_embeddings=True, n_langs=2, dropout=0.0, attn_dropout=0.0)
    model = PretrainModel(cfg, ["decoder"]).eval()
    with torch.no_grad():  # BERT's N(0, 0.02) would repeat one token to the budget: make steps differ
        dec = model.heads["decoder"]
        model.encoder.embeddings.word.weight.normal_(std=0.2)
        dec.lm.bias.normal_(std=2.0)
        dec.lm.bias[vocab.sep_id] += 11.0
        for layer in dec.layers:
            layer.attn.qkv.weight.normal_(std=0.1)
    return model, vocab


def source_batches(vocab, n: int, batch_size: int, seed: int):
    """Batches of random token ids whose lengths follow Multi30k's German test captions (subword-ish: ×1.3)."""
    from interlingua.data.pair_batches import encode_side
    from interlingua.data.readers import read_multi30k

    lengths = [max(3, int(len(s.split()) * 1.3)) for s in read_multi30k("deu", "test_2016_flickr")[:n]]
    g = torch.Generator().manual_seed(seed)
    first = len(vocab.special_ids) + 2
    rows = [(torch.randint(first, vocab.size, (k,), generator=g).tolist(), vocab.lang_index("deu")) for k in lengths]
    rows.sort(key=lambda r: len(r[0]))
    return [encode_side(rows[i:i + batch_size], vocab, 128) for i in range(0, len(rows), batch_size)]


def main() -> None:
    a = parse_dataclass_args(Args, __doc__.split("\n\n")[0])
    torch.set_num_threads(a.threads)
    from transformers import EncoderDecoderModel

    from interlingua.models.generate import SearchConfig, Special, generate
    from interlingua.models.hf_keys import hf_token_type_ids
    from interlingua.models.hf_seq2seq import export_seq2seq

    if a.model:
        from interlingua.models.pretrained import load_run

        model, vocab, _ = load_run(a.model)
    else:
        model, vocab = random_model(a.seed)
    batches = source_batches(vocab, a.sentences, a.batch_size, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tok = Path(tmp) / "tok"
        tok.mkdir()
        vocab.tokenizer.save(str(tok / "tokenizer.json"))
        hf = EncoderDecoderModel.from_pretrained(export_seq2seq(model, vocab, tok, Path(tmp) / "hf", a.tgt_lang)).eval()
    tgt = vocab.lang_index(a.tgt_lang)
    special = Special(vocab.cls_id, vocab.sep_id, vocab.pad_id)
    search = SearchConfig(beam=a.beam, length_penalty=a.length_penalty, max_len=a.max_len,
                          early_stopping=a.early_stopping)

    def ours() -> list[list[int]]:
        return [row for b in batches for row in generate(model, b, tgt, special, search)]

    def theirs() -> list[list[int]]:
        out = []
        for b in batches:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seqs = hf.generate(input_ids=b.input_ids, attention_mask=b.attn_mask.long(),
                                   token_type_ids=hf_token_type_ids(model.cfg, b.lang_ids, None), do_sample=False,
                                   num_beams=a.beam, length_penalty=a.length_penalty, max_length=a.max_len + 1,
                                   early_stopping=a.early_stopping)
            for r in seqs[:, 1:].tolist():
                out.append(r[: r.index(vocab.sep_id)] if vocab.sep_id in r else r[: a.max_len])
        return out

    mine, hf_out = ours(), theirs()  # warm-up, and the equality check
    same = sum(x == y for x, y in zip(mine, hf_out))
    lengths = [len(r) for r in mine]
    print(f"{len(mine)} sentences, beam {a.beam}, budget {a.max_len}; output lengths {min(lengths)}-{max(lengths)} "
          f"(mean {statistics.fmean(lengths):.1f}); identical outputs: {same}/{len(mine)}")
    if same != len(mine):
        raise SystemExit("outputs differ: the comparison would be meaningless")
    times = {"interlingua": [], "transformers": []}
    for _ in range(a.rounds):
        for name, fn in (("interlingua", ours), ("transformers", theirs)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    rate = {k: len(mine) / statistics.median(v) for k, v in times.items()}
    for k, v in rate.items():
        print(f"{k:>12}: {v:7.1f} sentences/s (median of {a.rounds} rounds, {a.threads} thread(s))")
    print(f"ratio_vs_hf={rate['interlingua'] / rate['transformers']:.2f}")


if __name__ == "__main__":
    main()
