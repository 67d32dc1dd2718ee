"""Run an exported ONNX model with ONNX Runtime (CPU everywhere; CUDA / TensorRT providers when present):
the session from ``loader``, checked against the model's metadata, fed float32 batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.onnxruntime.loader import session_from_onnx
from cnn2gnn.runtime.backends.runner import Runner, check_input_batch
from cnn2gnn.runtime.model_info import read_model_metadata


class OnnxRuntimeRunner(Runner):
    """An ONNX Runtime session over a cnn2gnn-exported model; ``infer`` returns float32 logits."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise Cnn2GnnError(f"model file {self.path} does not exist")
        self._session = session_from_onnx(self.path, providers, threads)
        self.threads = threads  # None: ONNX Runtime's default, one per physical core
        self.providers: list[str] = list(self._session.get_providers())
        self.metadata = read_model_metadata(self.path, dict(self._session.get_modelmeta().custom_metadata_map))
        self._check_io()

    def _check_io(self) -> None:
        meta = self.metadata
        inputs = {i.name: i for i in self._session.get_inputs()}
        self._outputs = [o.name for o in self._session.get_outputs()]
        outputs = set(self._outputs)
        if meta.input_name not in inputs:
            raise Cnn2GnnError(f"{self.path}: metadata names input {meta.input_name!r}, the model has {sorted(inputs)}")
        if meta.output_name not in outputs:
            raise Cnn2GnnError(
                f"{self.path}: metadata names output {meta.output_name!r}, the model has {sorted(outputs)}"
            )
        shape = list(inputs[meta.input_name].shape)
        expected = list(meta.preprocessing.input_shape)
        # Symbolic dims (strings) or None are dynamic and accept anything; fixed dims must agree.
        fixed = [(got, want) for got, want in zip(shape[1:], expected) if isinstance(got, int)]
        if len(shape) != 4 or any(got != want for got, want in fixed):
            raise Cnn2GnnError(
                f"{self.path}: input {meta.input_name!r} has shape {shape}, but its metadata says "
                f"[N, {', '.join(map(str, expected))}]: model and metadata do not belong together; re-export"
            )
        batch_dim = shape[0]
        self._fixed_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None

    @property
    def max_batch(self) -> int | None:
        return self._fixed_batch

    def _input(self, batch: np.ndarray) -> np.ndarray:
        x = check_input_batch(batch, self.metadata.preprocessing.input_shape, self.path)
        if self._fixed_batch is not None and x.shape[0] != self._fixed_batch:
            raise Cnn2GnnError(f"{self.path} was exported with a fixed batch of {self._fixed_batch}, got {x.shape[0]}")
        return x

    def _run(self, names: list[str], batch: np.ndarray) -> list[Any]:
        x = self._input(batch)
        try:
            return self._session.run(names, {self.metadata.input_name: x})
        except Exception as exc:  # ORT's own Fail type; its arena says so when a batch's activations do not fit
            if "Failed to allocate memory" not in str(exc):
                raise
            raise Cnn2GnnError(f"{self.path}: ONNX Runtime ran out of memory on a batch of {len(x)} images; use a "
                               "smaller batch size") from None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        (logits,) = self._run([self.metadata.output_name], batch)
        return np.asarray(logits, dtype=np.float32)

    @property
    def output_names(self) -> list[str]:
        return [self.metadata.output_name, *(n for n in self._outputs if n != self.metadata.output_name)]

    def infer_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        names = self.output_names
        values = self._run(names, batch)
        out = {name: np.asarray(value) for name, value in zip(names, values)}
        out[self.metadata.output_name] = out[self.metadata.output_name].astype(np.float32, copy=False)
        return out

    def close(self) -> None:
        # ONNX Runtime frees a session when the last reference to it goes.
        if hasattr(self, "_session"):
            del self._session

