"""Session-wide builder fixtures: tiny ONNX models written once (milliseconds each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
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


@pytest.fixture(scope="session")
def bank_models(tiny_lp_student_ckpt: Path, models_dir: Path) -> dict[str, Path]:
    """An lp student exported with room in its anchor bank (64 anchors in 100 rows), and two enrolments into it:
    20 more images of a 3 (``append``: same shapes, what a refit takes) and the same images as a new class
    (``new_class``: a class column more, which only a rebuild takes)."""
    from cnn2gnn.export.enrol_anchors import enrol_anchors
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
    from tests._enrolment_images import write_training_images_of

    source = Path(onnx_from_checkpoint(tiny_lp_student_ckpt, models_dir / "student.onnx", parity_samples=32,
                                       progress=False, bank_capacity=100)["output"])
    threes = write_training_images_of(3, models_dir / "threes")
    enrol_anchors(source, models_dir / "more3.onnx", images=threes, label="3", append=True)
    enrol_anchors(source, models_dir / "new.onnx", images=threes, label="new")
    return {"source": source, "append": models_dir / "more3.onnx", "new_class": models_dir / "new.onnx"}


@pytest.fixture(scope="session")
def gpu():
    """The GPU the gpu-marked tests run on; they skip (with the reason) where there is none."""
    from cnn2gnn.contracts.gpu_info import query_gpu_info

    try:
        return query_gpu_info()
    except Cnn2GnnError as exc:
        pytest.skip(str(exc))
