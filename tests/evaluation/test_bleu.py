"""BLEU evaluator: sacreBLEU figures on known inputs, user files by path, and a tiny model end to end."""
from __future__ import annotations

import pytest

from interlingua.errors import ConfigError
from interlingua.evaluation.bleu import evaluate_bleu, load_direction, parse_pairs, score, write_bleu_outputs
from interlingua.translation import Translator
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
