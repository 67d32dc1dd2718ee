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


@pytest.fixture(scope="session")
def exported_padded_lp_student(tiny_lp_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The lp student (64 anchors) exported with room for 100: 36 empty slots that enrolment can fill."""
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    return onnx_from_checkpoint(tiny_lp_student_ckpt, tmp_path_factory.mktemp("onnx") / "lp100.onnx", progress=False,
                                bank_capacity=100)


@pytest.fixture(scope="session")
def threes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 20 training images of the digit 3."""
    from tests._enrolment_images import write_training_images_of

    return write_training_images_of(3, tmp_path_factory.mktemp("threes"))
