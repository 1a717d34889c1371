"""Word alignment (``interlingua eval align``): extraction and AER by hand, the word <-> subword map, the layer
states against hand-run models, and tiny models end to end through the evaluator and the CLI."""
from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from interlingua.cli import main
from interlingua.config import ModelConfig
from interlingua.encoding import SentenceEncoder, load_encoder
from interlingua.errors import ConfigError, CorpusError
from interlingua.evaluation.align import (
    default_layer,
    evaluate_alignment,
    hidden_states,
    layer_vectors,
    parse_layers,
    special_frame,
    to_subwords,
)
from interlingua.evaluation.embedders import get_embedder
from interlingua.evaluation.report import format_table
from interlingua.evaluation.word_alignment import (
    AlignmentCounts,
    argmax_links,
    itermax_links,
    parse_links,
    read_gold,
    softmax_links,
    word_links,
)
from interlingua.models.encoder import Encoder
from tests.evaluation.test_embedders import _tiny_bert
from tests.test_encode import make_run


def cells(links: np.ndarray) -> set[tuple[int, int]]:
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(links))}


# --------------------------------------------------------------------------------------- extraction


def test_argmax_is_the_intersection_of_both_directions() -> None:
    """sim = [[.1 .9 .3], [.8 .7 .2]]: rows pick columns 1 and 0; columns pick rows 1, 0, 0 (.9 > .7, .3 > .2).
    Both agree on (0, 1) and (1, 0); column 2 wants row 0, whose own choice is column 1, so it stays unlinked."""
    sim = np.array([[0.1, 0.9, 0.3], [0.8, 0.7, 0.2]])
    assert cells(argmax_links(sim)) == {(0, 1), (1, 0)}


def test_itermax_links_rows_and_columns_left_free_by_argmax() -> None:
    """sim = [[.9 .8 .1], [.85 .2 .3], [.1 .7 .6]].

    argmax: rows pick 0, 0, 1; columns pick 0, 0, 2; only (0, 0) agrees. Round 2 scales each cell by
    min(1, .9 [row free] + .9 [column free]): 0 at (0, 0), .9 in row 0 and column 0, 1 elsewhere, giving
    [[0 .72 .09], [.765 .2 .3], [.09 .7 .6]]. Rows now pick 1, 0, 1 and columns 1, 0, 2: (0, 1) and (1, 0) agree,
    both in a free row or column. SimAlign stops after that round (max_count=2), leaving row 2 unlinked.
    """
    sim = np.array([[0.9, 0.8, 0.1], [0.85, 0.2, 0.3], [0.1, 0.7, 0.6]])
    assert cells(argmax_links(sim)) == {(0, 0)}
    assert cells(itermax_links(sim)) == {(0, 0), (0, 1), (1, 0)}
    assert cells(itermax_links(sim, max_count=1)) == {(0, 0)}
    small = np.array([[0.9, 0.8, 0.1], [0.85, 0.2, 0.3]])  # min(m, n) <= 2: no second round
    assert cells(itermax_links(small)) == cells(argmax_links(small))


def test_itermax_stops_when_every_row_is_linked() -> None:
    sim = np.eye(3) * 0.5 + 0.25  # argmax links the diagonal: every row and column taken
    assert cells(itermax_links(sim)) == {(0, 0), (1, 1), (2, 2)}


def test_softmax_needs_both_directions_above_the_threshold() -> None:
    """scores = log W, W = [[6 3 1], [2 1 7]]: softmax over a row is W / row sum (10, 10) = [[.6 .3 .1],
    [.2 .1 .7]]; over a column W / column sum (8, 4, 8) = [[.75 .75 .125], [.25 .25 .875]]. With t = .22 the rows
    pass (0,0) (0,1) (1,2) and the columns all but (0,2): the links are (0,0) (0,1) (1,2); (1,0) and (1,1) fail
    the row softmax only."""
    scores = np.log(np.array([[6.0, 3.0, 1.0], [2.0, 1.0, 7.0]]))
    assert cells(softmax_links(scores, threshold=0.22)) == {(0, 0), (0, 1), (1, 2)}
    assert cells(softmax_links(scores, threshold=1e-3)) == {(i, j) for i in range(2) for j in range(3)}
    shifted = softmax_links(scores + 1000.0, threshold=0.22)  # shift-invariant, and no overflow
    assert cells(shifted) == {(0, 0), (0, 1), (1, 2)}


def test_a_word_pair_is_linked_when_any_of_its_subwords_are() -> None:
    subword = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 1]], dtype=bool)  # source words [0, 0, 1], target [0, 1, 1]
    assert word_links(subword, [0, 0, 1], [0, 1, 1]) == {(0, 0), (0, 1), (1, 1)}


# ------------------------------------------------------------------------------------------- scores


def test_aer_precision_recall_by_hand_summed_over_the_corpus() -> None:
    """Sentence 1: S = {(0,0), (1,1)}, P = S + {(1,2)}, A = {(0,0), (1,2), (2,2)}: |A∩S| = 1, |A∩P| = 2.
    Sentence 2: S = P = A = {(0,0)}. Corpus sums: |A| = 4, |S| = 3, |A∩S| = 2, |A∩P| = 3, so
    AER = 1 - (2 + 3) / (4 + 3) = 2/7, precision = 3/4, recall = 2/3. (The mean of the sentences' AERs,
    (1 - 3/5 + 0) / 2 = 0.2, is not what is reported.)"""
    counts = AlignmentCounts()
    counts.add({(0, 0), (1, 2), (2, 2)}, {(0, 0), (1, 1)}, {(1, 2)})  # possible given without the sure: S ⊆ P anyway
    assert counts.scores() == pytest.approx({"aer": 0.4, "precision": 2 / 3, "recall": 0.5})
    counts.add({(0, 0)}, {(0, 0)}, {(0, 0)})
    assert counts.scores() == pytest.approx({"aer": 2 / 7, "precision": 3 / 4, "recall": 2 / 3})
    assert AlignmentCounts(predicted=0, sure=3).scores() == {"aer": 1.0, "precision": 0.0, "recall": 0.0}


def test_gold_links_are_one_based_and_possible_includes_sure() -> None:
    sure, possible = parse_links("1-1 2-p-3 3-2", n_src=3, n_tgt=3)
    assert sure == {(0, 0), (2, 1)}
    assert possible == {(0, 0), (1, 2), (2, 1)}
    with pytest.raises(CorpusError, match="outside 1..2 x 1..3.*1-based"):
        parse_links("0-1", n_src=2, n_tgt=3)
    with pytest.raises(CorpusError, match="neither i-j nor i-p-j"):
        parse_links("1p2", n_src=2, n_tgt=3)


def write_gold(prefix: Path, lines: list[tuple[str, str]], gz: bool = True) -> Path:
    """``PREFIX.src-tgt.txt[.gz]`` and ``PREFIX.gold.txt[.gz]`` from (``src ||| tgt``, links) lines."""
    suffix = ".txt.gz" if gz else ".txt"
    opener = (lambda p: gzip.open(p, "wt", encoding="utf-8")) if gz else (lambda p: open(p, "w", encoding="utf-8"))
    with opener(f"{prefix}.src-tgt{suffix}") as f:
        f.write("".join(text + "\n" for text, _ in lines))
    with opener(f"{prefix}.gold{suffix}") as f:
        f.write("".join(links + "\n" for _, links in lines))
    return prefix


def test_read_gold_splits_on_single_spaces_only(tmp_path: Path) -> None:
    prefix = write_gold(tmp_path / "x", [("a\u3000b c ||| d", "1-1 2-p-1"), ("e ||| f g", "")], gz=False)
    pairs = read_gold(f"{prefix}.src-tgt.txt", f"{prefix}.gold.txt")
    assert pairs[0].src == ["a\u3000b", "c"] and pairs[0].tgt == ["d"]
    assert pairs[0].sure == {(0, 0)} and pairs[0].possible == {(0, 0), (1, 0)}
    assert pairs[1].sure == frozenset() and pairs[1].tgt == ["f", "g"]


# ------------------------------------------------------------------------------ subwords and layers


def char_encoder(max_length: int = 64, n_layers: int = 2) -> SentenceEncoder:
    """A tiny random Encoder whose tokenizer makes one subword per character, framed by <s>=1 ... </s>=2."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=40, d_model=16, n_layers=n_layers, n_heads=2, d_ff=32, max_positions=64,
                      dropout=0.0, attn_dropout=0.0, init_std=0.3)
    module = Encoder(cfg).eval()

    def tokenize(texts: list[str]) -> list[list[int]]:
        return [[1, *[3 + ord(c) % 30 for c in t][: max_length - 2], 2] for t in texts]

    return SentenceEncoder(name="chars", module=module, forward=lambda *a: None, tokenize=tokenize, pad_id=0,
                           dim=16, max_length=max_length)


def test_words_map_to_their_subwords_between_the_special_tokens() -> None:
    enc = char_encoder()
    assert special_frame(enc) == ([1], [2])
    a, b, c, d, e = (3 + ord(ch) % 30 for ch in "abcde")
    (s0, s1), cut = to_subwords(enc, [["ab", "c"], ["", "de"]])
    assert (s0.ids, s0.start, s0.word_of) == ([1, a, b, c, 2], 1, [0, 0, 1])
    assert (s1.ids, s1.start, s1.word_of) == ([1, d, e, 2], 1, [1, 1])  # the empty word has no subword
    assert cut == 0
    (s0,), cut = to_subwords(char_encoder(max_length=4), [["ab", "c"]])  # room for 2 subwords
    assert (s0.ids, s0.word_of, cut) == ([1, a, b, 2], [0, 0], 1)


def test_layer_vectors_are_the_encoders_hidden_states_whatever_the_padding() -> None:
    """hidden_states has L + 1 entries (embedding output first, last = last_hidden); each sentence run alone
    (no padding) gives the rows layer_vectors takes from a padded batch, special tokens left out."""
    enc = char_encoder()
    sides, _ = to_subwords(enc, [["abc", "de"], ["a"], ["bb", "cc", "dd", "e"]])
    got = layer_vectors(enc, sides, None, [0, 1, 2])
    for side, vectors in zip(sides, got):
        with torch.no_grad():
            out = enc.module(torch.tensor([side.ids]), output_hidden_states=True)
        assert len(out.hidden_states) == 3
        torch.testing.assert_close(out.hidden_states[-1], out.last_hidden)
        want = torch.stack(out.hidden_states)[:, 0, 1:-1].numpy()  # (L + 1, n, D)
        np.testing.assert_allclose(vectors, want, atol=1e-5, rtol=1e-5)


def test_hugging_face_model_gives_the_same_layers_as_our_encoder(tmp_path: Path) -> None:
    """A tiny BERT folder runs on interlingua's Encoder; the same weights through transformers' BertModel (the
    path of other architectures) must give every layer's hidden states, padding included."""
    from transformers import AutoModel

    folder = _tiny_bert(tmp_path / "bert")
    ours = load_encoder(folder, quantize=False, device="cpu")
    assert isinstance(ours.module, Encoder)
    theirs = SentenceEncoder(**{**ours.__dict__, "module": AutoModel.from_pretrained(str(folder)).eval()})
    sides, _ = to_subwords(ours, [["the", "cat", "sat"], ["a", "dog"]])
    for a, b in zip(layer_vectors(ours, sides, None, [0, 1, 2]), layer_vectors(theirs, sides, None, [0, 1, 2])):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
    ids = torch.tensor([sides[0].ids])
    assert len(hidden_states(theirs, ids, torch.ones_like(ids, dtype=torch.bool), None)) == 3


def test_default_layer_and_layer_choices() -> None:
    assert [default_layer(n) for n in (2, 6, 12, 24)] == [1, 4, 8, 16]
    assert parse_layers(None, 12) == [8] and parse_layers("3", 12) == [3] and parse_layers("all", 2) == [0, 1, 2]
    with pytest.raises(ConfigError, match="layers 0 .* to 12"):
        parse_layers(13, 12)
    with pytest.raises(ConfigError, match="integer 0..12 or 'all'"):
        parse_layers("best", 12)


# --------------------------------------------------------------------------------------- end to end


IDENTICAL = [("ab cd e", "1-1 2-2 3-3"), ("bb ab", "1-1 2-p-2"), ("edc dce cde a", "1-1 2-2 3-3 4-4")]


@pytest.mark.parametrize("method", ["argmax", "itermax"])
def test_a_sentence_aligned_with_itself_has_aer_zero(tmp_path: Path, method: str) -> None:
    """Words of several characters (several subwords): each subword's cosine with itself is 1, the maximum of
    its row and column, so the links are the diagonal, and its words are the gold."""
    prefix = write_gold(tmp_path / "same", [(f"{t} ||| {t}", g) for t, g in IDENTICAL])
    result = evaluate_alignment(char_encoder(), data=str(prefix), method=method, layer="all", progress=False)
    for scores in result["by_layer"].values():
        assert scores["langs"]["same"] == {"aer": 0.0, "precision": 100.0, "recall": 100.0}
    assert result["langs"]["same"]["n"] == 3 and result["langs"]["same"]["links"] == 9


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("align") / "run")


GOLD = [("the cat sleeps ||| le chat", "2-2 1-p-1"), ("a big red house ||| la maison rot", "4-2 1-1 3-3"),
        ("dog ||| chien", "1-1")]


def test_tiny_run_sweep_reports_the_best_layer(run_dir: Path, tmp_path: Path) -> None:
    prefix = write_gold(tmp_path / "eng-fra", GOLD)
    result = evaluate_alignment(get_embedder(str(run_dir), batch_size=2), data=str(prefix), method="softmax",
                                layer="all", progress=False)
    sweep = result["by_layer"]
    assert sorted(sweep) == ["0", "1", "2"] and result["num_layers"] == 2
    assert result["layer"] == min((0, 1, 2), key=lambda k: sweep[str(k)]["average"]["aer"])
    scores = result["langs"]["eng-fra"]
    assert {m: scores[m] for m in ("aer", "precision", "recall")} == sweep[str(result["layer"])]["langs"]["eng-fra"]
    assert all(0.0 <= scores[m] <= 100.0 and math.isfinite(scores[m]) for m in ("aer", "precision", "recall"))
    assert scores["n"] == 3 and scores["sure_links"] == 5 and scores["truncated"] == 0
    assert result["metrics"]["align/eng-fra/aer"] == scores["aer"] and "align/layer0/eng-fra/aer" in result["metrics"]
    assert result["softmax_threshold"] == 1e-3
    table = format_table([result])
    assert "AER" in table and "eng-fra" in table and "average" in table


def test_batching_does_not_change_the_alignment(run_dir: Path, tmp_path: Path) -> None:
    prefix = write_gold(tmp_path / "eng-fra", GOLD)
    runs = [evaluate_alignment(get_embedder(str(run_dir), batch_size=b), data=str(prefix), method="itermax",
                               progress=False) for b in (1, 3)]
    assert runs[0]["langs"] == runs[1]["langs"] and runs[0]["layer"] == 1  # round(2 * 2 / 3)


def test_language_embeddings_take_the_languages_from_the_set_name(tmp_path: Path) -> None:
    run = make_run(tmp_path / "lang-run", lang_embeddings=True)
    named = write_gold(tmp_path / "eng-fra", GOLD)
    assert evaluate_alignment(get_embedder(str(run)), data=str(named), progress=False)["langs"]["eng-fra"]["n"] == 3
    unnamed = write_gold(tmp_path / "custom", GOLD)
    with pytest.raises(ConfigError, match="language embeddings"):
        evaluate_alignment(get_embedder(str(run)), data=str(unnamed), progress=False)


def test_shared_sets_by_name(run_dir: Path) -> None:
    result = evaluate_alignment(get_embedder(str(run_dir)), pairs="eng-fra,ron-eng", max_sentences=2, progress=False)
    assert list(result["langs"]) == ["eng-fra", "ron-eng"] and result["langs"]["ron-eng"]["n"] == 2
    with pytest.raises(ConfigError, match="no shared gold set 'deu-eng'; known: eng-fra, ron-eng"):
        evaluate_alignment(get_embedder(str(run_dir)), pairs="deu-eng", progress=False)


def test_refusals(run_dir: Path, tmp_path: Path) -> None:
    embedder = get_embedder(str(run_dir))
    with pytest.raises(ConfigError, match="--pairs"):
        evaluate_alignment(embedder, ["eng"], progress=False)
    with pytest.raises(ConfigError, match="method"):
        evaluate_alignment(embedder, method="mwmf", progress=False)
    with pytest.raises(ConfigError, match="hidden states"):
        evaluate_alignment(get_embedder("baseline:char-tfidf"), progress=False)
    with pytest.raises(CorpusError, match=r"nope\.src-tgt\.txt\.gz nor .*nope\.src-tgt\.txt exists"):
        evaluate_alignment(embedder, data=str(tmp_path / "nope"), progress=False)


def test_cli_prints_the_table_and_plots_the_sweep(run_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    prefix = write_gold(tmp_path / "eng-fra", GOLD, gz=False)
    out = tmp_path / "out"
    rc = main(["eval", "align", "--model", str(run_dir), "--data", str(prefix), "--method", "itermax",
               "--layer", "all", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "AER" in printed and "eng-fra" in printed and "align-layers.png" in printed
    assert (out / "align.png").stat().st_size > 0 and (out / "align-layers.png").stat().st_size > 0
    saved = json.loads((out / "align-run.json").read_text(encoding="utf-8"))
    assert saved["method"] == "itermax" and sorted(saved["by_layer"]) == ["0", "1", "2"]
    assert main(["eval", "align", "--model", str(run_dir), "--data", str(prefix), "--layer", "9"]) == 2


def test_a_text_prefix_stays_out_of_the_words(run_dir: Path, tmp_path: Path) -> None:
    """A run trained with ``model.text_prefix`` (e5's ``query: ``) aligns bare words, as a run without one does,
    while its sentence vectors still read the prefix."""
    prefixed = tmp_path / "prefixed"
    shutil.copytree(run_dir, prefixed)
    info = json.loads((prefixed / "interlingua.json").read_text(encoding="utf-8"))
    info["config"]["model"]["text_prefix"] = "the "
    (prefixed / "interlingua.json").write_text(json.dumps(info), encoding="utf-8")
    prefix = write_gold(tmp_path / "eng-fra", GOLD)
    runs = [evaluate_alignment(get_embedder(str(r)), data=str(prefix), layer="all", progress=False)
            for r in (run_dir, prefixed)]
    assert runs[0]["by_layer"] == runs[1]["by_layer"] and runs[1]["langs"]["eng-fra"]["links"] > 0
    plain, with_prefix = load_encoder(run_dir, quantize=False), load_encoder(prefixed, quantize=False)
    assert with_prefix.prefix == "the "
    assert np.array_equal(with_prefix.embed(["cat sleeps"]), plain.embed(["the cat sleeps"]))
