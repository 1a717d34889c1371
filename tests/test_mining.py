from __future__ import annotations

import numpy as np
import pytest

from interlingua.errors import ConfigError, OutputError
from interlingua.mining import (
    candidate_scores,
    knn,
    margin_scores,
    mine,
    mine_files,
    normalize,
    unique_lines,
)


def from_cosines(cos: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors x (n, m+1), y (m, m+1) with x @ y.T == cos (rows of cos need norm <= 1).

    y_j is the j-th basis vector, so x_i @ y_j is x_i[j]; the spare last coordinate tops x_i up to
    unit norm and never meets a y.
    """
    c = np.asarray(cos, dtype=np.float64)
    spare = np.sqrt(1.0 - (c**2).sum(axis=1, keepdims=True))
    x = np.hstack([c, spare]).astype(np.float32)
    y = np.eye(c.shape[1], c.shape[1] + 1, dtype=np.float32)
    return x, y


def test_margins_by_hand_k1() -> None:
    """cos = [[.6, .8, 0], [1, 0, 0], [0, .6, .8]] (rows x, columns y), k = 1.

    Neighbourhood means with k = 1 are the row / column maxima:
        r = (0.8, 1.0, 0.8)    c = (1.0, 0.8, 0.8)
    b_ij = (r_i + c_j) / 2:
        [[0.9, 0.8, 0.8], [1.0, 0.9, 0.9], [0.9, 0.8, 0.8]]
    ratio = cos / b:     [[0.6/0.9, 1, 0], [1, 0, 0], [0, 0.75, 1]]
    distance = cos - b:  [[-0.3, 0, -0.8], [0, -0.9, -0.9], [-0.9, -0.2, 0]]
    absolute = cos.
    """
    cos = [[0.6, 0.8, 0.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]]
    x, y = from_cosines(cos)
    expected = {
        "ratio": [[0.6 / 0.9, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.75, 1.0]],
        "distance": [[-0.3, 0.0, -0.8], [0.0, -0.9, -0.9], [-0.9, -0.2, 0.0]],
        "absolute": cos,
    }
    for margin, want in expected.items():
        np.testing.assert_allclose(margin_scores(x, y, k=1, margin=margin), want, atol=1e-6)


def test_margin_demotes_hub_k2() -> None:
    """Target y2 is close to every source (a hub); the true pairs are the diagonal. k = 2.

    cos = [[.6, .1, .65], [.1, .6, .65], [.1, .1, .7]]
    Top-2 means: rows r = (0.625, 0.625, 0.4), columns c = (0.35, 0.35, 0.675).
    b_00 = (0.625 + 0.35)/2 = 0.4875, b_02 = (0.625 + 0.675)/2 = 0.65, b_22 = (0.4 + 0.675)/2 = 0.5375
    ratio:    s_00 = 0.6/0.4875 = 1.2308 > s_02 = 0.65/0.65 = 1.0;   s_22 = 0.7/0.5375 = 1.3023
    distance: s_00 = 0.1125 > s_02 = 0.0;                            s_22 = 0.1625
    absolute: s_02 = 0.65 > s_00 = 0.6, so x0 and x1 both pick the hub, and one-to-one forward
    mining keeps only the best of the three hub candidates, (0.7, 2, 2).
    """
    x, y = from_cosines([[0.6, 0.1, 0.65], [0.1, 0.6, 0.65], [0.1, 0.1, 0.7]])
    ratio = margin_scores(x, y, k=2, margin="ratio")
    distance = margin_scores(x, y, k=2, margin="distance")
    assert ratio[0, 0] == pytest.approx(0.6 / 0.4875, abs=1e-5)
    assert ratio[0, 2] == pytest.approx(1.0, abs=1e-5)
    assert ratio[2, 2] == pytest.approx(0.7 / 0.5375, abs=1e-5)
    assert distance[0, 0] == pytest.approx(0.1125, abs=1e-5)
    assert distance[2, 2] == pytest.approx(0.1625, abs=1e-5)

    for margin in ("ratio", "distance"):
        pairs = mine(x, y, k=2, margin=margin, mode="forward")
        assert {(i, j) for _, i, j in pairs} == {(0, 0), (1, 1), (2, 2)}
    hub = mine(x, y, k=2, margin="absolute", mode="forward")
    assert [(i, j) for _, i, j in hub] == [(2, 2)]
    assert hub[0][0] == pytest.approx(0.7, abs=1e-6)
    # The backward direction rescues the plain cosine: each target's best source is its own.
    union = mine(x, y, k=2, margin="absolute", mode="union")
    assert {(i, j) for _, i, j in union} == {(0, 0), (1, 1), (2, 2)}


def planted(seed: int = 0, n_true: int = 50, d: int = 64) -> tuple[np.ndarray, np.ndarray, set]:
    """n_true noisy translation pairs (cos ~0.95) hidden among 200 / 300 random vectors."""
    rng = np.random.default_rng(seed)
    x_true = normalize(rng.normal(size=(n_true, d)))
    y_true = normalize(x_true + 0.3 * rng.normal(size=(n_true, d)) / np.sqrt(d))
    x = np.vstack([x_true, normalize(rng.normal(size=(200, d)))])
    y = np.vstack([normalize(rng.normal(size=(300, d))), y_true])
    return x, y, {(i, 300 + i) for i in range(n_true)}


@pytest.mark.parametrize("mode", ["union", "intersect", "forward", "backward"])
def test_mine_finds_planted_pairs(mode: str) -> None:
    x, y, gold = planted()
    pairs = mine(x, y, k=4, margin="ratio", mode=mode)
    scores = [s for s, _, _ in pairs]
    assert scores == sorted(scores, reverse=True)
    assert len({i for _, i, _ in pairs}) == len(pairs) == len({j for _, _, j in pairs})
    # Every true pair outscores every noise pair, so the top len(gold) are exactly the gold.
    assert {(i, j) for _, i, j in pairs[: len(gold)]} == gold
    threshold = (pairs[len(gold) - 1][0] + pairs[len(gold)][0]) / 2 if len(pairs) > len(gold) else 0
    kept = mine(x, y, k=4, margin="ratio", mode=mode, threshold=threshold)
    assert {(i, j) for _, i, j in kept} == gold  # precision = recall = 1


def test_threshold_keeps_the_prefix_at_or_above() -> None:
    x, y, _ = planted(seed=1)
    everything = mine(x, y)
    t = everything[len(everything) // 2][0]
    assert mine(x, y, threshold=t) == [p for p in everything if p[0] >= t]
    assert mine(x, y, threshold=1e9) == []


def test_ivf_matches_flat_when_probing_every_list() -> None:
    x, y, _ = planted(seed=2)
    flat = mine(x, y, k=4)
    ivf = mine(x, y, k=4, index="ivf", nlist=8, nprobe=8)
    assert [(i, j) for _, i, j in ivf] == [(i, j) for _, i, j in flat]
    np.testing.assert_allclose([s for s, _, _ in ivf], [s for s, _, _ in flat], rtol=1e-5)
    sims_f, ids_f = knn(x, y, 4)
    sims_i, ids_i = knn(x, y, 4, index="ivf", nlist=8, nprobe=8)
    np.testing.assert_array_equal(ids_i, ids_f)
    np.testing.assert_allclose(sims_i, sims_f, rtol=1e-5)


def test_missing_ivf_neighbours_are_never_chosen() -> None:
    sims = np.array([[0.9, 0.5]], dtype=np.float32)
    ids = np.array([[3, -1]])
    scores = candidate_scores(sims, ids, np.array([0.7]), np.full(4, 0.5), "distance")
    assert scores[0, 0] == pytest.approx(0.9 - 0.6) and scores[0, 1] == -np.inf


def test_k_larger_than_the_targets_is_capped() -> None:
    x, y = from_cosines([[0.6, 0.8], [1.0, 0.0]])
    sims, ids = knn(x, y, k=4)
    assert sims.shape == ids.shape == (2, 2)


def test_bad_names_raise() -> None:
    x, y, _ = planted()
    with pytest.raises(ConfigError, match="margin"):
        mine(x, y, margin="cosine")
    with pytest.raises(ConfigError, match="mode"):
        mine(x, y, mode="both")
    with pytest.raises(ConfigError, match="index"):
        knn(x, y, 4, index="hnsw")


def test_unique_lines_keeps_a_mapping() -> None:
    uniques, inverse = unique_lines(["a", "b", "a", "", "  ", "c", "b"])
    assert uniques == ["a", "b", "c"]
    assert inverse.tolist() == [0, 1, 0, -1, -1, 2, 1]


class CharCountEmbedder:
    """Counts of each character hashed into 64 buckets; identical lines get identical vectors."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        self.calls.append((list(sentences), lang))
        out = np.zeros((len(sentences), 64), dtype=np.float32)
        for row, sentence in enumerate(sentences):
            for ch in sentence:
                out[row, ord(ch) % 64] += 1
        return out


def test_mine_files_dedups_and_writes_tsv(tmp_path) -> None:
    src = tmp_path / "src.txt"
    tgt = tmp_path / "tgt.txt"
    src.write_text("abc\nhello world\nabc\n\nxyz zz\ntab\there\n", encoding="utf-8")
    tgt.write_text("hello world\nxyz zz\nabc\nabc\ntab\there\n", encoding="utf-8")
    out = tmp_path / "mined.tsv"
    embedder = CharCountEmbedder()
    n = mine_files(src, tgt, embedder, out, src_lang="deu", tgt_lang="eng", k=4, margin="ratio",
                   mode="union", threshold=None, index="flat", batch_size=2)

    embedded = {lang: [s for batch, l in embedder.calls if l == lang for s in batch]
                for lang in ("deu", "eng")}
    assert embedded["deu"] == ["abc", "hello world", "xyz zz", "tab\there"]  # each line once
    assert embedded["eng"] == ["hello world", "xyz zz", "abc", "tab\there"]
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert n == len(rows) == 4
    assert all(len(row) == 3 for row in rows)
    assert {(s, t) for _, s, t in rows} == {("abc", "abc"), ("hello world", "hello world"),
                                            ("xyz zz", "xyz zz"), ("tab here", "tab here")}
    scores = [float(score) for score, _, _ in rows]
    assert scores == sorted(scores, reverse=True)


def test_mine_files_refuses_an_output_that_is_an_input(tmp_path) -> None:
    """`mine SRC TGT -o SRC` read SRC, then replaced it with the mined pairs."""
    src, tgt = tmp_path / "src.txt", tmp_path / "tgt.txt"
    src.write_text("abc\nxyz\n", encoding="utf-8")
    tgt.write_text("abc\nxyz\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(tgt)
    embedder = CharCountEmbedder()
    for out in (src, tmp_path / "sub" / ".." / "src.txt", tmp_path / "link.txt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="is also an input"):
            mine_files(src, tgt, embedder, out, src_lang="deu", tgt_lang="eng")
    assert src.read_text(encoding="utf-8") == tgt.read_text(encoding="utf-8") == "abc\nxyz\n"
    assert embedder.calls == []  # refused before any embedding


def test_mine_files_checks_the_output_before_embedding(tmp_path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("abc\n", encoding="utf-8")
    embedder = CharCountEmbedder()
    with pytest.raises(OutputError, match=r"cannot write .*missing[/\\]out\.tsv: .*missing does not exist"):
        mine_files(src, src, embedder, tmp_path / "missing" / "out.tsv", src_lang="deu", tgt_lang="eng")
    with pytest.raises(OutputError, match="is a folder"):
        mine_files(src, src, embedder, tmp_path, src_lang="deu", tgt_lang="eng")
    with pytest.raises(ConfigError, match="batch_size"):
        mine_files(src, src, embedder, tmp_path / "out.tsv", src_lang="deu", tgt_lang="eng", batch_size=0)
    assert embedder.calls == []
