from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cnn2gnn.contracts.atomic_io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_bytes, sha256_file


def test_writes_create_parents_and_leave_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    atomic_write_bytes(target, b"\x00\x01")
    atomic_write_text(tmp_path / "a" / "t.txt", "héllo")
    atomic_write_json(tmp_path / "a" / "j.json", {"b": [1, 2], "a": Path("/x")})
    assert target.read_bytes() == b"\x00\x01"
    assert (tmp_path / "a" / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "a" / "j.json").read_text()) == {"a": "/x", "b": [1, 2]}
    assert sorted(p.name for p in (tmp_path / "a").rglob("*")) == ["b", "j.json", "out.bin", "t.txt"]


def test_overwrite_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write_bytes(target, b"a long first version")
    atomic_write_bytes(target, b"short")
    assert target.read_bytes() == b"short"


def test_failure_keeps_the_previous_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    atomic_write_bytes(target, b"previous")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_bytes(b"half writ")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_failure_before_any_file_existed_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("partial")
            raise ValueError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_checksums(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # more than one 1 MiB read chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest() == sha256_bytes(data)
