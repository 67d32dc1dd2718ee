"""CUDA memory, streams and copies for the TensorRT backend, through cuda-python or pycuda.

cuda-python (``cuda.bindings.runtime``) is what TensorRT's own samples use since 10.14 and installs
from PyPI; pycuda is what many existing Jetson setups already have. Both are imported only when
:func:`create_cuda_memory` runs, so this module imports on a machine with neither.
"""

from __future__ import annotations

import abc
import ctypes
import importlib
from typing import Any, Callable, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import lazy_import
from cnn2gnn.runtime.backends.tensorrt.tensor_buffers import tensor_nbytes

LIBRARIES = ("cuda-python", "pycuda")

CUDA_PYTHON_INSTALL = (
    "cuda-python: pip install cuda-python (wheels on PyPI; pick the major version of your CUDA, "
    "e.g. pip install 'cuda-python>=12,<13' for CUDA 12 / JetPack 6)"
)
PYCUDA_INSTALL = (
    "pycuda: pip install pycuda (compiles against the CUDA toolkit: nvcc on PATH; on a Jetson first "
    "export CPATH=/usr/local/cuda/include LIBRARY_PATH=/usr/local/cuda/lib64 PATH=/usr/local/cuda/bin:$PATH)"
)


class CudaMemory(abc.ABC):
    """Device buffers, page-locked host arrays and streams on one GPU; pointers and streams are ints."""

    library: str

    @abc.abstractmethod
    def alloc(self, nbytes: int) -> int:
        """Device memory of ``nbytes``; returns the device pointer."""

    @abc.abstractmethod
    def free(self, ptr: int) -> None: ...

    @abc.abstractmethod
    def alloc_pinned(self, shape: Sequence[int], dtype: np.dtype | type | str) -> np.ndarray:
        """A page-locked host array (async copies from pageable memory would serialise)."""

    @abc.abstractmethod
    def free_pinned(self, host: np.ndarray) -> None: ...

    @abc.abstractmethod
    def copy_htod(self, ptr: int, host: np.ndarray) -> None:
        """Blocking copy, for callers without a stream (TensorRT's INT8 calibrator callback)."""

    @abc.abstractmethod
    def copy_htod_async(self, ptr: int, host: np.ndarray, stream: int) -> None: ...

    @abc.abstractmethod
    def copy_dtoh_async(self, host: np.ndarray, ptr: int, stream: int) -> None: ...

    @abc.abstractmethod
    def create_stream(self) -> int: ...

    @abc.abstractmethod
    def destroy_stream(self, stream: int) -> None: ...

    @abc.abstractmethod
    def synchronize(self, stream: int) -> None: ...

    @abc.abstractmethod
    def device_name(self) -> str: ...

    @abc.abstractmethod
    def compute_capability(self) -> tuple[int, int]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Free everything still allocated through this object."""


def array_at_address(address: int, shape: Sequence[int], dtype: np.dtype | type | str) -> tuple[np.ndarray, Any]:
    """A writable numpy view of ``shape`` / ``dtype`` over memory at ``address`` (e.g. from cudaMallocHost),
    and the ctypes buffer that must stay referenced as long as the view is used.

    Goes through bytes rather than ``np.ctypeslib`` so dtypes without a ctypes type (float16) work.
    """
    dt = np.dtype(dtype)
    nbytes = tensor_nbytes(shape, dt)
    raw = (ctypes.c_ubyte * max(nbytes, 1)).from_address(address)
    # ctypes arrays export the buffer protocol; numpy's stubs do not know that.
    view = np.frombuffer(raw, dtype=dt, count=nbytes // dt.itemsize)  # pyright: ignore
    return view.reshape(tuple(int(d) for d in shape)), raw


def _contiguous(host: np.ndarray) -> np.ndarray:
    if not host.flags["C_CONTIGUOUS"]:
        raise ValueError("async copies need a C-contiguous host array")
    return host


class _CudaPythonMemory(CudaMemory):
    library = "cuda-python"

    def __init__(self, cudart: Any, device: int) -> None:
        self._rt = cudart
        self._device = device
        self._call(cudart.cudaSetDevice(device), "cudaSetDevice")
        self._device_ptrs: set[int] = set()
        self._pinned: dict[int, Any] = {}  # host address -> the ctypes buffer that keeps it reachable
        self._streams: set[int] = set()

    def _call(self, result: tuple[Any, ...], what: str) -> Any:
        err, rest = result[0], result[1:]
        if err != self._rt.cudaError_t.cudaSuccess:
            name = self._rt.cudaGetErrorName(err)[1]
            name = name.decode() if isinstance(name, bytes) else str(name)
            raise Cnn2GnnError(
                f"CUDA call {what} failed on device {self._device}: {name}. Check that an NVIDIA GPU is visible "
                "(nvidia-smi, or tegrastats on a Jetson) and that the driver supports this cuda-python version"
            )
        if not rest:
            return None
        return rest[0] if len(rest) == 1 else rest

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._call(self._rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))
        self._device_ptrs.add(ptr)
        return ptr

    def free(self, ptr: int) -> None:
        self._device_ptrs.discard(ptr)
        self._call(self._rt.cudaFree(ptr), "cudaFree")

    def alloc_pinned(self, shape: Sequence[int], dtype: np.dtype | type | str) -> np.ndarray:
        nbytes = tensor_nbytes(shape, dtype)
        ptr = int(self._call(self._rt.cudaMallocHost(max(nbytes, 1)), "cudaMallocHost"))
        host, self._pinned[ptr] = array_at_address(ptr, shape, dtype)
        return host

    def free_pinned(self, host: np.ndarray) -> None:
        ptr = host.ctypes.data
        if self._pinned.pop(ptr, None) is not None:
            self._call(self._rt.cudaFreeHost(ptr), "cudaFreeHost")

    def copy_htod(self, ptr: int, host: np.ndarray) -> None:
        host = _contiguous(host)
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self._rt.cudaMemcpy(ptr, host.ctypes.data, host.nbytes, kind), "cudaMemcpy(HtoD)")

    def copy_htod_async(self, ptr: int, host: np.ndarray, stream: int) -> None:
        host = _contiguous(host)
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(self._rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind, stream), "cudaMemcpyAsync(HtoD)")

    def copy_dtoh_async(self, host: np.ndarray, ptr: int, stream: int) -> None:
        host = _contiguous(host)
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(self._rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, kind, stream), "cudaMemcpyAsync(DtoH)")

    def create_stream(self) -> int:
        stream = int(self._call(self._rt.cudaStreamCreate(), "cudaStreamCreate"))
        self._streams.add(stream)
        return stream

    def destroy_stream(self, stream: int) -> None:
        self._streams.discard(stream)
        self._call(self._rt.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def synchronize(self, stream: int) -> None:
        self._call(self._rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def _properties(self) -> Any:
        return self._call(self._rt.cudaGetDeviceProperties(self._device), "cudaGetDeviceProperties")

    def device_name(self) -> str:
        name = self._properties().name
        return (name.decode(errors="replace") if isinstance(name, bytes) else str(name)).rstrip("\x00").strip()

    def compute_capability(self) -> tuple[int, int]:
        props = self._properties()
        return int(props.major), int(props.minor)

    def close(self) -> None:
        for stream in list(self._streams):
            self.destroy_stream(stream)
        for ptr in list(self._device_ptrs):
            self.free(ptr)
        for ptr in list(self._pinned):
            self._pinned.pop(ptr)
            self._call(self._rt.cudaFreeHost(ptr), "cudaFreeHost")


class _PycudaMemory(CudaMemory):
    library = "pycuda"

    def __init__(self, driver: Any, device: int) -> None:
        self._drv = driver
        try:
            driver.init()
            self._dev = driver.Device(device)
            # The primary context is the one the CUDA runtime, and so TensorRT, uses: retaining it
            # (instead of pycuda.autoinit's private context) keeps pycuda's pointers valid for TensorRT.
            self._ctx = self._dev.retain_primary_context()
            self._ctx.push()
        except driver.Error as exc:
            raise Cnn2GnnError(
                f"pycuda cannot open CUDA device {device} ({exc}); check that an NVIDIA GPU is visible "
                "(nvidia-smi, or tegrastats on a Jetson)"
            ) from exc
        self._device_allocs: dict[int, Any] = {}
        self._pinned: dict[int, np.ndarray] = {}
        self._streams: dict[int, Any] = {}

    def alloc(self, nbytes: int) -> int:
        allocation = self._drv.mem_alloc(max(int(nbytes), 1))
        self._device_allocs[int(allocation)] = allocation
        return int(allocation)

    def free(self, ptr: int) -> None:
        self._device_allocs.pop(ptr).free()

    def alloc_pinned(self, shape: Sequence[int], dtype: np.dtype | type | str) -> np.ndarray:
        host = self._drv.pagelocked_empty(tuple(int(d) for d in shape), np.dtype(dtype))
        self._pinned[host.ctypes.data] = host
        return host

    def free_pinned(self, host: np.ndarray) -> None:
        owned = self._pinned.pop(host.ctypes.data, None)
        if owned is not None:
            owned.base.free()  # pyright: ignore  (the base is pycuda's HostAllocation)

    def copy_htod(self, ptr: int, host: np.ndarray) -> None:
        self._drv.memcpy_htod(ptr, _contiguous(host))

    def copy_htod_async(self, ptr: int, host: np.ndarray, stream: int) -> None:
        self._drv.memcpy_htod_async(ptr, _contiguous(host), self._streams[stream])

    def copy_dtoh_async(self, host: np.ndarray, ptr: int, stream: int) -> None:
        self._drv.memcpy_dtoh_async(_contiguous(host), ptr, self._streams[stream])

    def create_stream(self) -> int:
        stream = self._drv.Stream()
        self._streams[int(stream.handle)] = stream
        return int(stream.handle)

    def destroy_stream(self, stream: int) -> None:
        self._streams.pop(stream, None)

    def synchronize(self, stream: int) -> None:
        self._streams[stream].synchronize()

    def device_name(self) -> str:
        return str(self._dev.name())

    def compute_capability(self) -> tuple[int, int]:
        major, minor = self._dev.compute_capability()
        return int(major), int(minor)

    def close(self) -> None:
        self._streams.clear()
        for ptr in list(self._device_allocs):
            self.free(ptr)
        for host in list(self._pinned.values()):
            self.free_pinned(host)
        self._ctx.pop()


def _cuda_python_runtime() -> Any:
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError:
        # cuda-python before 12.6 exposed the same runtime bindings as cuda.cudart.
        return lazy_import("cuda.cudart", CUDA_PYTHON_INSTALL, "CUDA memory through cuda-python")


def _pycuda_driver() -> Any:
    return lazy_import("pycuda.driver", PYCUDA_INSTALL, "CUDA memory through pycuda")


# library -> (import its module, the CudaMemory over that module)
_IMPLEMENTATIONS: dict[str, tuple[Callable[[], Any], Callable[[Any, int], CudaMemory]]] = {
    "cuda-python": (_cuda_python_runtime, _CudaPythonMemory),
    "pycuda": (_pycuda_driver, _PycudaMemory),
}


def create_cuda_memory(prefer: str | None = None, device: int = 0) -> CudaMemory:
    """CUDA memory through ``prefer`` ("cuda-python" or "pycuda"), or whichever is installed (cuda-python first)."""
    if prefer is not None and prefer not in LIBRARIES:
        raise Cnn2GnnError(f"CUDA memory library {prefer!r} unknown; use one of {LIBRARIES}")
    import_failures: list[str] = []
    for library in [prefer] if prefer else LIBRARIES:
        import_module, memory_class = _IMPLEMENTATIONS[library]
        try:
            module = import_module()
        except Cnn2GnnError as exc:
            import_failures.append(str(exc))
            continue
        return memory_class(module, device)
    raise Cnn2GnnError(
        "the TensorRT backend needs a CUDA memory library (cuda-python or pycuda) and none could be imported:\n  - "
        + "\n  - ".join(import_failures)
    )
