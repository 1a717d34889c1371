"""A tiny end-to-end run through the CLI: train on user files, resume, evaluate, export to Hugging Face."""
from __future__ import annotations

import json

import pytest
import torch

from interlingua.cli import main

EN = ["the cat sleeps", "a dog runs", "the red house", "blue sky today", "open the file", "save the file",
      "close the window", "print the page", "the big dog", "a small cat"]
DE = ["die katze schläft", "ein hund rennt", "das rote haus", "blauer himmel heute", "datei öffnen",
      "datei speichern", "fenster schließen", "seite drucken", "der große hund", "eine kleine katze"]
TINY = ["model.d_model=32", "model.n_layers=2", "model.n_heads=2", "model.d_ff=64", "data.vocab_size=120",
        "data.vocab_sample_sentences=200", "train.batch_size=8", "train.warmup_steps=1", "train.log_every=2",
        "model.dropout=0.0", "model.attn_dropout=0.0"]


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "en.txt").write_text("\n".join(EN * 3) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(DE * 3) + "\n", encoding="utf-8")
    return ["data.corpus=files", f"data.files=['deu={tmp_path / 'en.txt'},{tmp_path / 'de.txt'}']"]


def test_train_resume_export(tmp_path, corpus, capsys):
    run = tmp_path / "run"
    args = ["train", "--recipe", "xlm", "--run-dir", str(run), *corpus, *TINY, "train.steps=6"]
    assert main(args + ["--stop-at", "3"]) == 0
    assert main(args) == 2  # refuses to overwrite a run without --resume
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    info = json.loads((run / "interlingua.json").read_text())
    assert info["langs"] == ["deu", "eng"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3, 4, 6] and (run / "loss.png").stat().st_size > 0

    out = tmp_path / "hf"
    assert main(["export", "hf", str(run), str(out)]) == 0
    from transformers import AutoModel

    from interlingua.models.pretrained import load_run

    model, vocab, _ = load_run(run)
    hf = AutoModel.from_pretrained(out).eval()
    ids = torch.tensor([vocab.encode(["the red house"])[0]])
    lang = torch.full_like(ids, vocab.lang_index("eng"))
    with torch.no_grad():
        ours = model.encoder(ids, lang_ids=lang).last_hidden
        theirs = hf(input_ids=ids, token_type_ids=lang).last_hidden_state
    assert (ours - theirs).abs().max().item() <= 1e-4


def test_bad_input_is_a_clean_error(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("eins\n", encoding="utf-8")
    code = main(["train", "--recipe", "xlm", "--run-dir", str(tmp_path / "r"), "data.corpus=files",
                 f"data.files=['deu={tmp_path / 'a.txt'},{tmp_path / 'b.txt'}']"])
    err = capsys.readouterr().err
    assert code == 2 and "a.txt" in err and "b.txt" in err and "has 2 lines" in err and "has 1" in err
    assert main(["train", "--recipe", "xlm", "train.stepz=3"]) == 2
    assert "train.steps" in capsys.readouterr().err


def test_list_objectives(capsys):
    assert main(["list", "objectives"]) == 0
    out = capsys.readouterr().out
    assert "mlm" in out and "Translation language modelling" in out


def test_tokenizer_train_and_corpus_stats(tmp_path, corpus, capsys):
    """`tokenizer train` writes a folder transformers loads; `corpus stats` prints counts and p(lang)."""
    out = tmp_path / "vocab"
    assert main(["tokenizer", "train", "--out", str(out), *corpus, "data.vocab_size=120",
                 "data.vocab_sample_sentences=200"]) == 0
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(out)
    assert tok.mask_token == "<mask>" and "<lang_deu>" in tok.get_vocab()
    ids = tok("the red house")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert main(["corpus", "stats", *corpus]) == 0
    text = capsys.readouterr().out
    assert "deu" in text and "30" in text and "1.0000" in text
