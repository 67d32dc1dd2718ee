"""ONNX file -> ONNX Runtime session: which execution providers, how many threads, and a clear error
when the file does not load. ONNX Runtime is imported when a session is made, not at module import."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import lazy_import
from cnn2gnn.runtime.backends.onnxruntime import INSTALL_HINT

# Preference order when the caller names none: ONNX Runtime tries them left to right per node.
_ACCELERATED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
_CPU_PROVIDER = "CPUExecutionProvider"


def default_providers(available: Sequence[str]) -> list[str]:
    """The accelerated providers this ONNX Runtime build has, best first, then CPU as the fallback."""
    return [p for p in _ACCELERATED_PROVIDERS if p in available] + [_CPU_PROVIDER]


def check_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    missing = [p for p in requested if p not in available]
    if missing:
        raise Cnn2GnnError(
            f"ONNX Runtime provider(s) {missing} are not in this onnxruntime build; available: {list(available)}. "
            "The CUDA and TensorRT providers come with the onnxruntime-gpu package."
        )
    return list(requested)


def session_from_onnx(path: Path, providers: Sequence[str] | None = None, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` over ``path`` on ``providers`` (default: the best available)."""
    ort = lazy_import("onnxruntime", INSTALL_HINT, "the onnxruntime backend")
    available = ort.get_available_providers()
    chosen = default_providers(available) if providers is None else check_providers(providers, available)
    options = ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise Cnn2GnnError(f"threads must be >= 1, got {threads}")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
        raise Cnn2GnnError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
