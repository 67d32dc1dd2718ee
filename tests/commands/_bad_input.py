"""The bad-input harness: run the CLI as a user does (one ``error:`` line, an exit code) and prove that
nothing the command was given, nor any earlier artifact, changed (sha256 of every file before and after)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing

DIGIT_CLASSES = [str(i) for i in range(10)]


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """(exit code, stderr) of ``cnn2gnn ARGS`` through the real entry point."""
    from cnn2gnn.cli import main

    monkeypatch.setattr(sys, "argv", ["cnn2gnn", *map(str, args)])
    with pytest.raises(SystemExit) as caught:
        main()
    return int(caught.value.code or 0), capsys.readouterr().err


def digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under (or at) ``roots``: what must not change."""
    out = {}
    for root in roots:
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def linear_model(path: Path, channels: int = 1, size: int = 8, classes: list[str] | None = None) -> Path:
    """A tiny cnn2gnn-style ONNX classifier (Flatten + Gemm) with embedded metadata and sidecar."""
    from tests.runtime._onnx_models import write_linear_onnx

    names = classes or DIGIT_CLASSES
    spec = Preprocessing(height=size, width=size, channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels)
    meta = ModelMetadata(kind="teacher", class_names=names, preprocessing=spec)
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(len(names), channels * size * size)).astype(np.float32)
    return write_linear_onnx(path, weight, np.zeros(len(names), np.float32), meta)


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: chmod 555, or, as root (which ignores modes), the
    read-only /sys; skips where neither refuses a write."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            fd, probe = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(fd)
        os.unlink(probe)
    pytest.skip("no folder here refuses writes (root on a writable /sys)")
