"""Word alignments of the training pairs, by eflomal, computed once per corpus and cached on disk (ALM).

Why eflomal: it is a maintained, fast Bayesian aligner (an sdist that compiles, in ``requirements.txt``),
trained on the very pairs it aligns, with no model and no GPU; the suite's SimAlign-style aligner
(``evaluation.word_alignment``) would need a forward pass of the encoder over every pair and aligns with
the model being trained. Words are the shared vocabulary's words (a subword that starts a word, then its
continuations), written to eflomal as the joined token ids, so every language, scripts without spaces
included, goes through the same path as the packer's ``word_ids``.

Both directions are aligned and symmetrised with grow-diag (the intersection, then union links next to an
aligned one). eflomal samples with a seed from ``/dev/urandom``, so its links differ between calls; the
cache (``$INTERLINGUA_CACHE/alignments/<key>.npz``, default ``~/.cache/interlingua``; key = a hash of the
token ids of every pair) makes a run, its resume and every process read the same links. Under torchrun
rank 0 aligns while the others poll for the file.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch.distributed as dist
from tqdm import tqdm


Links = set[tuple[int, int]]


def words(ids: Sequence[int], starts: Sequence[bool]) -> list[list[int]]:
    """Token ids -> words: a new word at the first token and at every token that starts one."""
    out: list[list[int]] = []
    for j, tok in enumerate(ids):
        if j == 0 or starts[tok]:
            out.append([])
        out[-1].append(tok)
    return out


def grow_diag(forward: Links, backward: Links) -> Links:
    """Symmetrise two directional alignments: start from their intersection and repeatedly add union links
    that neighbour (8-connected) an aligned link and cover a source or target word not yet aligned."""
    union, links = forward | backward, forward & backward
    grew = True
    while grew:
        grew = False
        for i, j in sorted(links):
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    cand = (i + di, j + dj)
                    if cand in union and cand not in links and (
                            all(a != cand[0] for a, _ in links) or all(b != cand[1] for _, b in links)):
                        links.add(cand)
                        grew = True
    return links


def _parse(lines: list[str]) -> list[Links]:
    return [{(int(a), int(b)) for a, b in (t.split("-") for t in line.split())} for line in lines]


def eflomal_align(src: list[list[list[int]]], tgt: list[list[list[int]]]) -> list[Links]:
    """Sentences as words of token ids -> grow-diag links (source word, target word) per pair."""
    import tempfile

    import eflomal

    def text(side):
        return [" ".join("_".join(map(str, w)) for w in sent) + "\n" for sent in side]

    with tempfile.TemporaryDirectory() as tmp:
        fwd, rev = os.path.join(tmp, "fwd"), os.path.join(tmp, "rev")
        eflomal.Aligner().align(text(src), text(tgt), links_filename_fwd=fwd, links_filename_rev=rev, quiet=True)
        forward = _parse(Path(fwd).read_text().splitlines())
        backward = _parse(Path(rev).read_text().splitlines())
    return [grow_diag(f, b) for f, b in zip(forward, backward)]


def corpus_key(pairs: dict[str, Sequence[tuple[Sequence[int], Sequence[int]]]]) -> str:
    h = hashlib.sha256()
    for lang in sorted(pairs):
        h.update(lang.encode())
        for p, x in pairs[lang]:
            h.update(np.asarray(list(p) + [-1] + list(x) + [-2], dtype=np.int64).tobytes())
    return h.hexdigest()[:20]


def _to_arrays(links: list[Links]) -> tuple[np.ndarray, np.ndarray]:
    flat = [pair for ls in links for pair in sorted(ls)]
    offsets = np.cumsum([0] + [len(ls) for ls in links]).astype(np.int64)
    return offsets, np.asarray(flat, dtype=np.int32).reshape(-1, 2)


def _from_arrays(offsets: np.ndarray, flat: np.ndarray) -> list[Links]:
    return [{(int(a), int(b)) for a, b in flat[offsets[k]:offsets[k + 1]]} for k in range(len(offsets) - 1)]


def pool_alignments(pairs: dict[str, Sequence], starts: Sequence[bool], cache: Path,
                    strip=lambda ids: list(ids)) -> dict[str, list[Links]]:
    """Language -> links per pair (pivot word i, language word j) of the pairs' words after ``strip`` (e.g.
    removing a text prefix), from the cache or computed and cached. Under torchrun rank 0 aligns while the
    others poll for the file (no collective that could time out during a long alignment)."""
    stripped = {lang: [(strip(p), strip(x)) for p, x in pairs[lang]] for lang in sorted(pairs)}
    path = cache / f"{corpus_key(stripped)}.npz"
    main = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    if main and not path.exists():
        arrays = {}
        for lang in tqdm(sorted(stripped), desc="eflomal", unit="lang"):
            rows = stripped[lang]
            links = eflomal_align([words(p, starts) for p, _ in rows], [words(x, starts) for _, x in rows])
            arrays[f"{lang}.offsets"], arrays[f"{lang}.links"] = _to_arrays(links)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # atomic: a killed run leaves no half-written cache
    while not path.exists():
        time.sleep(1.0)
    with np.load(path) as z:
        return {lang: _from_arrays(z[f"{lang}.offsets"], z[f"{lang}.links"]) for lang in pairs}
