"""Import an optional heavy dependency only when it is used, or say what to install.

cnn2gnn's commands and runtime must start where torch, onnx, OpenCV or TensorRT are absent (a
Jetson has no torch; CI has no TensorRT), so those are imported inside the functions that need them,
through :func:`lazy_import`, which turns a missing package into one :class:`Cnn2GnnError` naming
the fix instead of an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cnn2gnn.contracts.errors import Cnn2GnnError

# Install hints shared by several call sites: one wording per dependency.
OPENCV_HINT = (
    "On a desktop: pip install opencv-python-headless. On a Jetson use JetPack's system OpenCV "
    "(python3-opencv); do not pip-install OpenCV over it."
)
ONNX_HINT = "pip install onnx (it comes with cnn2gnn's `train` extra: pip install -e '.[train]')"
ONNXRUNTIME_HINT = "pip install onnxruntime (or onnxruntime-gpu; the `onnxruntime` extra of cnn2gnn)"
TORCH_HINT = (
    "install torch first (a CPU machine: pip install torch --index-url https://download.pytorch.org/whl/cpu), "
    "then pip install -e '.[train]'"
)


def lazy_import(name: str, hint: str, what: str | None = None) -> ModuleType:
    """``importlib.import_module(name)``, or :class:`Cnn2GnnError` "``what`` needs ``name``: ``hint``"."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        needed_by = f"{what} needs" if what else "this needs"
        raise Cnn2GnnError(
            f"{needed_by} the Python package {name!r}, which cannot be imported ({exc}). {hint}") from exc
