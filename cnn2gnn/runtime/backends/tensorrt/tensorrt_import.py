"""Whether the real TensorRT Python package is importable, and what to tell the user when it is not.

``pip install tensorrt-stubs`` (type stubs only) leaves a ``tensorrt`` folder holding ``.pyi`` files in
site-packages, which Python then imports as an empty namespace package: ``import tensorrt`` succeeds
and ``pytest.importorskip("tensorrt")`` does not skip. So "installed" here means a module with a
file and a ``Builder``.
"""

from __future__ import annotations

import importlib

from cnn2gnn.contracts.errors import Cnn2GnnError

TENSORRT_INSTALL_HINT = (
    "On a Jetson it comes with JetPack (`sudo apt install python3-libnvinfer`; use the system Python or a "
    "venv made with --system-site-packages); on a desktop with an NVIDIA GPU: `python3 -m pip install tensorrt` "
    "(its libraries come from NVIDIA's package index; if pip cannot find them add "
    "`--extra-index-url https://pypi.nvidia.com`)"
)


def _load_tensorrt() -> tuple[object | None, str]:
    """(module, "") when the real TensorRT imports; (None, why) otherwise."""
    try:
        module = importlib.import_module("tensorrt")
    except ImportError as exc:
        return None, f"`import tensorrt` failed: {exc}"
    if getattr(module, "__file__", None) is None or not hasattr(module, "Builder"):
        where = ", ".join(str(p) for p in getattr(module, "__path__", [])) or "site-packages"
        return None, (
            f"the `tensorrt` found at {where} is an empty package (type stubs such as tensorrt-stubs, not the library)"
        )
    return module, ""


def tensorrt_available() -> bool:
    return _load_tensorrt()[0] is not None


def require_tensorrt() -> str:
    """TensorRT's version string, or :class:`Cnn2GnnError` saying how to install it."""
    module, why = _load_tensorrt()
    if module is None:
        raise Cnn2GnnError(f"TensorRT is not installed ({why}). {TENSORRT_INSTALL_HINT}")
    return str(getattr(module, "__version__", "0.0.0"))
