"""The backend interface every runtime executor implements, and the loader that picks one."""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata

BACKENDS = ("onnxruntime", "tensorrt")
_SUFFIX_BACKEND = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt"}


class Backend(abc.ABC):
    """A loaded model: ``infer`` takes a preprocessed float32 NCHW batch and returns float32 logits."""

    name: str
    path: Path
    metadata: ModelMetadata

    @abc.abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 -> (N, num_classes) float32 logits."""

    @property
    def max_batch(self) -> int | None:
        """The largest batch the model accepts, or None when unbounded."""
        return None

    def close(self) -> None:
        """Release device memory and sessions; the backend is unusable afterwards."""

    def __enter__(self) -> "Backend":
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


def backend_for_path(path: Path, backend: str | None) -> str:
    if backend is not None:
        if backend not in BACKENDS:
            raise Cnn2GnnError(f"backend {backend!r} unknown; use one of {BACKENDS}")
        return backend
    try:
        return _SUFFIX_BACKEND[path.suffix.lower()]
    except KeyError:
        raise Cnn2GnnError(
            f"{path}: cannot tell the backend from the suffix {path.suffix!r}; "
            f"name the file .onnx / .engine / .plan or pass --backend ({', '.join(BACKENDS)})"
        ) from None


def load_backend(path: str | Path, backend: str | None = None, **options: object) -> Backend:
    """Load ``path`` with the named backend, or the one its suffix implies (.onnx / .engine / .plan)."""
    p = Path(path)
    if not p.is_file():
        raise Cnn2GnnError(f"model file {p} does not exist")
    name = backend_for_path(p, backend)
    if name == "onnxruntime":
        from cnn2gnn.runtime.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(p, **options)  # type: ignore[arg-type]
    from cnn2gnn.runtime.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(p, **options)  # type: ignore[arg-type]
