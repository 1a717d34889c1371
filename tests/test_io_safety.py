"""Export folders are replaced only where interlingua wrote them; write and safetensors errors name the path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlingua.errors import CheckpointError, OutputError
from interlingua.io_safety import (
    EXPORT_MARKER,
    check_export_dir,
    load_safetensors,
    output_errors,
    publish_dir,
    staging_dir,
)


def _staged(out: Path, files: dict[str, str]) -> Path:
    tmp = staging_dir(out)
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    (tmp / "empty_module").mkdir()
    return tmp


def test_publish_renames_into_a_new_or_empty_folder_and_merges_into_an_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    publish_dir(_staged(out, {"a.json": "1", "sub/b.json": "1"}), out)
    assert json.loads((out / EXPORT_MARKER).read_text())["files"] == ["a.json", "sub/b.json"]
    (out / "mine.txt").write_text("user")
    publish_dir(_staged(out, {"a.json": "2"}), out)  # sub/b.json was ours and is no longer written
    assert (out / "a.json").read_text() == "2" and not (out / "sub" / "b.json").exists()
    assert (out / "mine.txt").read_text() == "user" and (out / "empty_module").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_refusals_name_the_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file exists and is not a folder"):
        check_export_dir(tmp_path / "file", force=True)
    with pytest.raises(OutputError, match=r"holds file\. Refusing.*--force"):
        check_export_dir(tmp_path)
    check_export_dir(tmp_path, force=True)
    check_export_dir(tmp_path / "new")


def test_output_and_safetensors_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write out\.npy \(/ro/out\.npy\): Permission denied"):
        with output_errors("out.npy"):
            raise PermissionError(13, "Permission denied", "/ro/out.npy")
    (tmp_path / "w.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"w\.safetensors is not a readable safetensors file"):
        load_safetensors(tmp_path / "w.safetensors")
