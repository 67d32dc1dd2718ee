"""Session fixtures for calibration tests: the tiny student exported to ONNX, and its INT8 Q/DQ versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FAST = {"num_images": 64, "latency_iterations": 3, "progress": False}


@pytest.fixture(scope="session")
def tiny_student_onnx(tiny_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny anchor-mode student (k=5, 64 anchors, 16x16 input) through the real exporter."""
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    out = tmp_path_factory.mktemp("student_onnx") / "student.onnx"
    onnx_from_checkpoint(tiny_student_ckpt, out, parity_samples=32, progress=False)
    return out


@pytest.fixture(scope="session")
def calibrated_student(tiny_student_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default calibration (minmax, graph path float) on 64 training images; returns the report."""
    from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx

    out = tmp_path_factory.mktemp("int8") / "student.int8.onnx"
    return calibrate_onnx(tiny_student_onnx, out, **FAST)


@pytest.fixture(scope="session")
def calibrated_student_graph(tiny_student_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Calibration with ``quantize_graph=True``: the projection/distance/TopK path quantised too (no budget
    checked, so the float fallback does not put it back to float)."""
    from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx

    out = tmp_path_factory.mktemp("int8_graph") / "student.int8g.onnx"
    return calibrate_onnx(tiny_student_onnx, out, quantize_graph=True, max_drop=None, min_agreement=None,
                          min_neighbour_agreement=None, **FAST)
