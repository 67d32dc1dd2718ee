"""What every runtime backend's runner is: a loaded model that turns a preprocessed batch into logits.

This module imports no backend: the classifier, the benchmark and the stream loop depend on
:class:`Runner` alone, and each backend subpackage (``onnxruntime/``, ``tensorrt/``) implements it.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata


class Runner(abc.ABC):
    """A loaded model: ``infer`` takes a preprocessed float32 NCHW batch and returns float32 logits."""

    name: str  # the backend's registered name
    path: Path
    metadata: ModelMetadata

    @abc.abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 -> (N, num_classes) float32 logits."""

    @property
    def output_names(self) -> list[str]:
        """Every output the model has: the logits first, then any extra ones (e.g. ``neighbour_index``)."""
        return [self.metadata.output_name]

    def infer_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of one call by name; a backend that can read extra outputs overrides this."""
        return {self.metadata.output_name: self.infer(batch)}

    @property
    def max_batch(self) -> int | None:
        """The largest batch the model accepts, or None when unbounded."""
        return None

    def close(self) -> None:
        """Release device memory and sessions; the runner is unusable afterwards."""

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_input_batch(batch: np.ndarray, chw: tuple[int, int, int], source: Path) -> np.ndarray:
    """``batch`` as a contiguous float32 (N, C, H, W) array, or a Cnn2GnnError naming the expected shape."""
    x = np.ascontiguousarray(batch, dtype=np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(chw):
        raise Cnn2GnnError(
            f"{source}: expects a float32 batch of shape (N, {', '.join(map(str, chw))}), got {tuple(x.shape)}; "
            "preprocess images with the model's metadata (cnn2gnn.runtime.Classifier does)"
        )
    return x
