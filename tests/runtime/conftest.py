"""Session-wide runtime fixtures: the digits data, two fitted tiny models with different preprocessing, and a
distilled anchor student exported with neighbour outputs, thumbnails and an open-set threshold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing
from tests.runtime._onnx_models import fit_linear, write_linear_onnx


@dataclass
class TinyModel:
    path: Path
    metadata: ModelMetadata
    weight: np.ndarray
    bias: np.ndarray


@pytest.fixture(scope="session")
def digits():
    from cnn2gnn.toolchain.data import load_dataset

    return load_dataset("digits")


def _fitted(digits, directory: Path, name: str, kind: str, spec: Preprocessing) -> TinyModel:
    weight, bias = fit_linear(digits.train.images, digits.train.labels, spec, digits.num_classes)
    meta = ModelMetadata(kind=kind, class_names=list(digits.class_names), preprocessing=spec,
                         graph={"mode": "anchor", "k": 5, "num_anchors": 32} if kind == "student" else None)
    path = write_linear_onnx(directory / f"{name}.onnx", weight, bias, meta)
    return TinyModel(path, meta, weight, bias)


@pytest.fixture(scope="session")
def student_model(digits, tmp_path_factory) -> TinyModel:
    """Gray 8x8 input, mean/std 0.5."""
    return _fitted(digits, tmp_path_factory.mktemp("student"), "student", "student",
                   Preprocessing(height=8, width=8, channels=1, mean=(0.5,), std=(0.5,)))


@pytest.fixture(scope="session")
def teacher_model(digits, tmp_path_factory) -> TinyModel:
    """RGB 12x12 input with ImageNet-style per-channel statistics: a different preprocessing on purpose."""
    spec = Preprocessing(height=12, width=12, channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                         interpolation="cubic")
    return _fitted(digits, tmp_path_factory.mktemp("teacher"), "teacher", "teacher", spec)


@pytest.fixture(scope="session")
def open_set_student(tiny_lp_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The lp student exported (with its .anchors.npy thumbnails) with its novelty threshold at 90% TPR on
    validation: the export report, whose "output" is the model's path."""
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    return onnx_from_checkpoint(tiny_lp_student_ckpt, tmp_path_factory.mktemp("open") / "s.onnx", parity_samples=32,
                                unknown_tpr=0.9, progress=False)
