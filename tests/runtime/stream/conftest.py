"""The tiny distilled student (tests/conftest.py) exported with ``cnn2gnn export``'s own function, once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def exported_student_onnx(tiny_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    path = tmp_path_factory.mktemp("stream_onnx") / "student.onnx"
    onnx_from_checkpoint(tiny_student_ckpt, path, parity_samples=32, progress=False)
    return path
