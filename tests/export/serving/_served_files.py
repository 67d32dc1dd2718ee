"""Model files to write serving configs for: a tiny exported-style ONNX and engines with their sidecars.

An "engine" here is placeholder bytes with a real cnn2gnn engine sidecar: serving configs read only
the sidecar and copy the plan unchanged, so no TensorRT is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnn2gnn.contracts.engine_sidecar import write_engine_sidecar
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing
from tests.engine._engines import sample_sidecar
from tests.engine._onnx_models import SPEC as DIGITS_SPEC
from tests.engine._onnx_models import tiny_metadata, write_linear_onnx

__all__ = ["DIGITS_SPEC"]
IMAGENET_SPEC = Preprocessing(height=32, width=32, channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
IMAGENET_CLASSES = ["cat", "dog", "fish"]
PLAN_BYTES = b"serialized plan bytes"


def imagenet_metadata(color_order: str = "RGB") -> ModelMetadata:
    spec = Preprocessing(height=IMAGENET_SPEC.height, width=IMAGENET_SPEC.width, channels=3, mean=IMAGENET_SPEC.mean,
                         std=IMAGENET_SPEC.std, color_order=color_order)
    return ModelMetadata(kind="teacher", class_names=IMAGENET_CLASSES, preprocessing=spec, precision="fp32")


def write_onnx(folder: Path, name: str = "student.onnx") -> Path:
    return write_linear_onnx(folder / name, tiny_metadata())


def write_engine(folder: Path, name: str = "student.engine", metadata: ModelMetadata | None = None,
                 **sidecar_changes: Any) -> Path:
    metadata = metadata or tiny_metadata("int8-qdq")
    engine = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(PLAN_BYTES)
    fields: dict[str, Any] = {"model_metadata": metadata.to_dict(), "input_shape": metadata.input_shape}
    fields.update(sidecar_changes)
    write_engine_sidecar(engine, sample_sidecar(**fields))
    return engine
