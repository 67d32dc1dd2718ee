"""Session fixtures: the tiny teacher and student checkpoints exported once, and a batch-mode student."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def exported_teacher(tiny_teacher_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    return onnx_from_checkpoint(tiny_teacher_ckpt, tmp_path_factory.mktemp("onnx") / "teacher.onnx", progress=False)


@pytest.fixture(scope="session")
def exported_student(tiny_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    return onnx_from_checkpoint(tiny_student_ckpt, tmp_path_factory.mktemp("onnx") / "student.onnx", progress=False)


@pytest.fixture(scope="session")
def batch_mode_student_ckpt(tiny_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny student's weights saved as a batch-mode student (same parameters, the paper's graph mode)."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(tiny_student_ckpt)
    payload.model_config = {**payload.model_config, "graph_mode": "batch"}
    return save_checkpoint(tmp_path_factory.mktemp("batch_student") / "best.pt", payload)


@pytest.fixture(scope="session")
def exported_lp_student(tiny_lp_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    return onnx_from_checkpoint(tiny_lp_student_ckpt, tmp_path_factory.mktemp("onnx") / "lp.onnx", progress=False)
