"""Implicit-INT8 entropy calibrator (TensorRT <= 10.x), created by a factory at call time.

The class subclasses ``trt.IInt8EntropyCalibrator2``, which exists only where TensorRT is installed
(and only up to 10.x), so it is defined inside :func:`create_entropy_calibrator`; this module imports
everywhere. The batching and the cache file handling it delegates to are plain, tested functions
(:mod:`cnn2gnn.calibration.calibration_batches`, :mod:`cnn2gnn.calibration.tensorrt_calibration_cache`).

GPU memory for the batches comes from the runtime's :class:`cnn2gnn.runtime.backends.tensorrt.cuda_memory.CudaMemory`
(cuda-python or pycuda, whichever is installed): one page-locked host buffer, one device buffer and a
stream; each batch is copied and synchronised before ``get_batch`` returns its pointer.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from cnn2gnn.calibration.calibration_batches import CalibrationBatches
from cnn2gnn.calibration.tensorrt_calibration_cache import read_calibration_cache, write_calibration_cache
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt

if TYPE_CHECKING:
    from cnn2gnn.runtime.backends.tensorrt.cuda_memory import CudaMemory


def create_entropy_calibrator(
    batches: CalibrationBatches,
    cache_path: str | Path,
    cache_key: Mapping[str, Any],
    device_memory: CudaMemory | None = None,
    *,
    reuse_cache: bool = True,
    progress: bool = True,
) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` feeding ``batches`` and keeping its cache at ``cache_path``.

    The cache is checked here, before TensorRT calls back: an existing cache made with another key is
    refused now with a clear :class:`Cnn2GnnError` (an exception raised inside a TensorRT callback
    would surface only as a failed build). ``reuse_cache=False`` (``--force``) ignores an existing
    cache and overwrites it. GPU memory is taken only when calibration must actually run; one made
    here (``device_memory`` None) is released when the last batch has been handed over.
    """
    require_tensorrt()
    import tensorrt as trt

    from cnn2gnn.runtime.backends.tensorrt.cuda_memory import create_cuda_memory

    cached = read_calibration_cache(cache_path, cache_key) if reuse_cache else None
    memory = None if cached is not None else (device_memory or create_cuda_memory())
    owns_memory = device_memory is None

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            # pybind11 trampolines must have the base initialised explicitly, or TensorRT crashes.
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = iter(batches)
            self._buffers = None
            if memory is not None:
                host = memory.alloc_pinned(batches.batch_shape, np.float32)
                self._buffers = (memory.create_stream(), host, memory.alloc(batches.nbytes_per_batch))
            self._bar = progress_bar(
                total=len(batches), desc="INT8 calibration", unit="batch", file=sys.stderr, enabled=progress
            )

        def get_batch_size(self) -> int:
            # Explicit-batch networks carry the batch in the calibration profile's shape; TensorRT wants 1.
            return 1

        def get_batch(self, names: list[str]) -> list[int]:
            batch = next(self._batches, None)
            if batch is None or memory is None or self._buffers is None:
                self._release()
                return []
            stream, host, device = self._buffers
            np.copyto(host, batch)
            memory.copy_htod_async(device, host, stream)
            memory.synchronize(stream)  # TensorRT reads the device buffer as soon as this returns
            self._bar.update(1)
            return [device]  # cnn2gnn models have one input (checked before the build)

        def read_calibration_cache(self) -> Any:
            # None (documented by TensorRT) means "no cache: calibrate".
            return cached

        def write_calibration_cache(self, cache: Any) -> None:
            write_calibration_cache(cache_path, bytes(cache), cache_key)

        def _release(self) -> None:
            self._bar.close()
            if memory is None or self._buffers is None:
                return
            stream, host, device = self._buffers
            self._buffers = None
            if owns_memory:
                memory.close()
            else:
                memory.free(device)
                memory.free_pinned(host)
                memory.destroy_stream(stream)

    return EntropyCalibrator()
