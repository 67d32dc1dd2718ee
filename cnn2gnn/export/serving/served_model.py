"""A model file as a model server sees it: its format, tensor names, precision and the batches it accepts.

Formats are a registry keyed by file suffix: each says which Triton platform runs it, what Triton
calls the file in a version folder, which ``nvinfer`` key names it, and how its facts are read.
ONNX facts come from the cnn2gnn metadata (embedded copy or sidecar, via the torch-free runtime);
an engine's from its ``<engine>.json`` sidecar, which records the batch profile it was built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cnn2gnn.contracts.engine_sidecar import read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.setting_ranges import INT32_MAX
from cnn2gnn.runtime.backends.registry import require_model_file
from cnn2gnn.runtime.model_info import read_model_metadata

# Largest batch a server may send an ONNX model, whose batch axis is unbounded; `cnn2gnn build`'s default too.
DEFAULT_MAX_BATCH = 64


@dataclass(frozen=True)
class ServedModel:
    path: Path
    format: ModelFormat
    metadata: ModelMetadata
    input_name: str
    output_name: str
    min_batch: int
    max_batch: int | None  # None: any batch (an ONNX model's dynamic batch axis)

    @property
    def precision(self) -> str:
        """What runs: fp32 | fp16 | int8-qdq (a Q/DQ ONNX) | int8 (an engine)."""
        return self.metadata.precision

    @property
    def fixed_batch(self) -> int | None:
        """The one batch size an engine built with min = max batch accepts; None when the batch is dynamic."""
        return self.min_batch if self.max_batch == self.min_batch else None

    def server_max_batch(self, requested: int | None) -> int:
        """The largest batch a server should form: ``requested``, checked against what the model accepts."""
        if requested is None:
            return self.max_batch if self.max_batch is not None else DEFAULT_MAX_BATCH
        if not 1 <= requested <= INT32_MAX:  # Triton's max_batch_size and nvinfer's batch-size are 32-bit
            raise Cnn2GnnError(f"--max-batch must be between 1 and {INT32_MAX}, got {requested}")
        if self.max_batch is not None and not self.min_batch <= requested <= self.max_batch:
            raise Cnn2GnnError(
                f"{self.path}: the engine accepts batches {self.min_batch}..{self.max_batch}, not --max-batch "
                f"{requested}; pass a value in that range or rebuild with `cnn2gnn build --max-batch {requested}`"
            )
        return requested


@dataclass(frozen=True)
class ModelFormat:
    name: str
    suffixes: tuple[str, ...]  # lower case, with the dot
    triton_platform: str
    triton_file_name: str  # the file's name inside a Triton version folder
    nvinfer_model_key: str  # the nvinfer [property] key that names the file
    read: Callable[[Path, ModelFormat], ServedModel]


def _served_onnx(path: Path, model_format: ModelFormat) -> ServedModel:
    metadata = read_model_metadata(path)
    return ServedModel(path, model_format, metadata, metadata.input_name, metadata.output_name, 1, None)


def _served_engine(path: Path, model_format: ModelFormat) -> ServedModel:
    sidecar = read_engine_sidecar(path)
    metadata = read_model_metadata(path)
    # The sidecar's names and profile are the plan's own bindings; the metadata only relays the ONNX's.
    return ServedModel(path, model_format, metadata, sidecar.input_name, sidecar.output_name, sidecar.min_batch,
                       sidecar.max_batch)


_FORMATS: dict[str, ModelFormat] = {}


def register_model_format(model_format: ModelFormat) -> ModelFormat:
    clashes = [s for s in model_format.suffixes for other in _FORMATS.values() if s in other.suffixes]
    if model_format.name in _FORMATS or clashes:
        raise ValueError(f"model format {model_format.name!r} clashes with a registered one (suffixes {clashes})")
    _FORMATS[model_format.name] = model_format
    return model_format


register_model_format(ModelFormat("onnx", (".onnx",), "onnxruntime_onnx", "model.onnx", "onnx-file", _served_onnx))
register_model_format(ModelFormat("tensorrt-engine", (".engine", ".plan"), "tensorrt_plan", "model.plan",
                                  "model-engine-file", _served_engine))


def served_model_from_path(path: str | Path) -> ServedModel:
    """Read the served facts of an exported ``.onnx`` or a built ``.engine`` / ``.plan`` (with its sidecar)."""
    p = require_model_file(path)
    suffix = p.suffix.lower()
    for model_format in _FORMATS.values():
        if suffix in model_format.suffixes:
            return model_format.read(p, model_format)
    known = " / ".join(s for f in _FORMATS.values() for s in f.suffixes)
    raise Cnn2GnnError(f"{p}: serving configs are written for {known} files (from `cnn2gnn export` / `cnn2gnn build`)")
