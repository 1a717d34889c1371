"""BLEU evaluator: sacreBLEU figures on known inputs, user files by path, and a tiny model end to end."""
from __future__ import annotations

import pytest

from interlingua.errors import ConfigError
from interlingua.evaluation.bleu import evaluate_bleu, load_direction, parse_pairs, score, write_bleu_outputs
from interlingua.tokenization.vocab import save_vocab
from interlingua.training.run import write_run_info
from interlingua.translation import Translator, load_translator
from tests.conftest import tiny_model
from tests.objectives.stateful import tiny_recipe
from tests.training.tiny_run import make_trainer


def test_identical_output_scores_100_and_signatures_are_kept():
    refs = ["a man rides a bike .", "two dogs play in the snow ."]
    s = score(refs, refs)
    assert s["bleu"] == 100.0 and s["chrf"] == 100.0 and s["n"] == 2
    assert "tok:13a" in s["bleu_signature"] and "nc:6" in s["chrf_signature"]
    assert score(["x y z", "q"], refs)["bleu"] < 5


def test_pairs_parse_and_bad_ones_name_the_flag():
    assert parse_pairs("deu-eng, eng-deu") == [("deu", "eng"), ("eng", "deu")]
    with pytest.raises(ConfigError, match="--pairs"):
        parse_pairs("deueng")


def test_user_files_by_path(tmp_path):
    (tmp_path / "s.txt").write_text("eins\nzwei\n", encoding="utf-8")
    (tmp_path / "r.txt").write_text("one\ntwo\n", encoding="utf-8")
    assert load_direction(f"{tmp_path}/s.txt,{tmp_path}/r.txt", "deu", "eng", None) == (["eins", "zwei"], ["one", "two"])
    (tmp_path / "r.txt").write_text("one\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="1"):
        load_direction(f"{tmp_path}/s.txt,{tmp_path}/r.txt", "deu", "eng", None)


def test_length_penalty_flag_reaches_the_search(tmp_path):
    """``eval bleu --length-penalty 0.6`` parses, and the value (0 included) is what translate receives."""
    from interlingua.cli import build_parser
    from interlingua.evaluation.tasks import evaluator

    a = build_parser().parse_args(["eval", "bleu", "--model", "m", "--length-penalty", "0.6", "--beam", "3"])
    given = {k: getattr(a, k) for k in a.option_dests if getattr(a, k, None) is not None}
    assert given == {"length_penalty": 0.6, "beam": 3}

    class Echo:
        name, seen = "echo", []

        def translate(self, sentences, src, tgt, **kw):
            self.seen.append((kw["beam"], kw["length_penalty"]))
            return sentences

    (tmp_path / "s.txt").write_text("a b\n", encoding="utf-8")
    spec = f"{tmp_path}/s.txt,{tmp_path}/s.txt"
    result = evaluator("bleu", **given, pairs="deu-eng", data=spec, progress=False)(Echo(), None)
    evaluate_bleu(Echo(), pairs="deu-eng", data=spec, length_penalty=0.0, progress=False)
    assert Echo.seen == [(3, 0.6), (4, 0.0)] and result["length_penalty"] == 0.6


def test_tiny_model_end_to_end(tmp_path):
    trainer = make_trainer(tmp_path / "run", "train.steps=4", recipe=tiny_recipe(tmp_path, "xae", "xae: {}"))
    trainer.fit()
    vocab = trainer.objectives[0].vocab
    (tmp_path / "s.txt").write_text("der hund\ndie katze\n", encoding="utf-8")
    (tmp_path / "r.txt").write_text("the dog\nthe cat\n", encoding="utf-8")
    tr = Translator(trainer.model.eval(), vocab, 32, "tiny")
    result = evaluate_bleu(tr, pairs="deu-eng", data=f"{tmp_path}/s.txt,{tmp_path}/r.txt", beam=2, progress=False)
    d = result["directions"]["deu-eng"]
    assert d["n"] == 2 and 0.0 <= d["bleu"] <= 100.0 and result["metrics"]["bleu/deu-eng/chrf"] == d["chrf"]
    assert len(d["examples"]) == 2
    text = write_bleu_outputs([result], tmp_path, "bleu")
    assert (tmp_path / "bleu.png").exists() and "deu-eng" in text
    save_vocab(vocab.tokenizer, vocab.langs, tmp_path / "run" / "tokenizer")
    write_run_info(trainer.cfg, vocab, tmp_path / "run")
    loaded = load_translator(tmp_path / "run")  # sources as long as the model's positions, not data.max_len
    assert (loaded.max_len, loaded.trained_len) == (trainer.cfg.model.max_positions, trainer.cfg.data.max_len)


def test_long_sources_are_counted_in_warnings(vocab):
    """max_len 6 leaves 4 source tokens, trained_len 5 leaves 3: of 5, 4 and 2 tokens, one is truncated
    (5 > 4) and one more is read past the trained length (4 > 3); all three are still translated."""
    model = tiny_model(vocab.size, heads=("decoder",), lang_embeddings=True, n_langs=3).eval()
    tr = Translator(model, vocab, 6, "tiny", trained_len=5)
    with pytest.warns(UserWarning) as caught:
        out = tr.translate(["the cat runs the cat", "the cat runs the", "der hund"], "deu", "eng")
    messages = [str(w.message) for w in caught]
    assert len(out) == 3 and len(messages) == 2
    assert "1 of 3 deu sources are longer than the model's 4 tokens and were truncated" in messages[0]
    assert "1 of 3 deu sources are longer than the run's data.max_len=5" in messages[1]
