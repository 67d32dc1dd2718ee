"""What every benchmark's JSON records about where it ran, beside its numbers."""

from __future__ import annotations

import os
import platform
from typing import Any

from cnn2gnn.contracts.lazy_import import ONNXRUNTIME_HINT, lazy_import


def onnxruntime_machine() -> dict[str, Any]:
    """ONNX Runtime's version and the CPU it timed on (the benchmarks run ONNX Runtime's CPU provider)."""
    return {
        "onnxruntime": lazy_import("onnxruntime", ONNXRUNTIME_HINT, "the benchmarks").__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
