"""TensorRT build progress as tqdm bars on stderr (TensorRT 10+: ``config.progress_monitor``).

TensorRT reports nested phases ("Building engine" > "Tactic selection" > ...) from its worker
threads; each phase gets a bar, indented by nesting depth, under a lock. The class subclasses
``trt.IProgressMonitor``, so it is defined inside the factory and this module imports without TensorRT.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt


def create_progress_monitor() -> Any:
    """A ``trt.IProgressMonitor`` drawing one tqdm bar per build phase."""
    require_tensorrt()
    import tensorrt as trt
    from tqdm import tqdm

    class TqdmProgressMonitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            # pybind11 trampolines must have the base initialised explicitly, or TensorRT crashes.
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._bars: dict[str, Any] = {}
            self._depth: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                depth = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
                self._depth[phase_name] = depth
                self._bars[phase_name] = tqdm(
                    total=num_steps,
                    desc=("  " * depth) + phase_name,
                    unit="step",
                    position=depth,
                    leave=depth == 0,
                    file=sys.stderr,
                )

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                bar = self._bars.get(phase_name)
                if bar is not None:
                    bar.update(max(0, step + 1 - bar.n))  # steps are 0-based and may be skipped
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                bar = self._bars.pop(phase_name, None)
                self._depth.pop(phase_name, None)
                if bar is not None:
                    bar.close()

    return TqdmProgressMonitor()
