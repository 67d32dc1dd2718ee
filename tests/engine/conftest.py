"""Session-wide builder fixtures: tiny ONNX models written once (milliseconds each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.engine._onnx_models import digits_arrays, tiny_metadata, write_anchor_onnx, write_linear_onnx


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build_models")


@pytest.fixture(scope="session")
def linear_onnx(models_dir: Path) -> Path:
    return write_linear_onnx(models_dir / "linear.onnx", tiny_metadata())


@pytest.fixture(scope="session")
def qdq_onnx(models_dir: Path) -> Path:
    return write_linear_onnx(models_dir / "linear.qdq.onnx", tiny_metadata("int8-qdq"), qdq=True)


@pytest.fixture(scope="session")
def fp16_onnx(models_dir: Path) -> Path:
    return write_linear_onnx(models_dir / "linear.fp16.onnx", tiny_metadata("fp16"), fp16=True)


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return digits_arrays()


@pytest.fixture(scope="session")
def anchor_onnx(models_dir: Path, digits: tuple[np.ndarray, ...]) -> Path:
    train_x, train_y = digits[0], digits[1]
    return write_anchor_onnx(models_dir / "anchor.onnx", train_x, train_y)
