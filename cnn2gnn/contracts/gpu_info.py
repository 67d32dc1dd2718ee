"""Which GPU a build runs on: name, compute capability, and whether it is integrated (a Jetson).

An engine is tied to the compute capability it was built for, so the builder records it and the
runtime compares it. The query uses cuda-python (``cuda.bindings.runtime``, or the older
``cuda.cudart``) or pycuda, whichever is installed; both are imported only when a GPU is asked about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cnn2gnn.contracts.errors import Cnn2GnnError

_CC_RE = re.compile(r"^\s*(?:sm_?)?(\d+)(?:\.(\d+))?\s*$", re.IGNORECASE)

CUDA_PYTHON_INSTALL_HINT = (
    "install cuda-python (`pip install cuda-python`, the major version matching your CUDA, e.g. "
    "'cuda-python>=12,<13' for CUDA 12; it is the `tensorrt` extra of cnn2gnn) or pycuda "
    "(on a Jetson: `pip install pycuda` with CUDA's bin on PATH, so it can compile against the toolkit)"
)


def parse_compute_capability(value: str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``"8.7"``, ``(8, 7)``, ``"sm87"`` or ``"sm_87"`` -> ``(8, 7)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise Cnn2GnnError(f"compute capability {value!r} must be (major, minor)")
        return int(value[0]), int(value[1])
    text = str(value)
    match = _CC_RE.match(text)
    if match is None:
        raise Cnn2GnnError(f"cannot read a compute capability from {text!r}; expected e.g. '8.7' or 'sm87'")
    major, minor = match.groups()
    if minor is None:
        # "sm87": every digit but the last is the major version (sm100 -> 10.0).
        digits = major
        if len(digits) < 2:
            raise Cnn2GnnError(f"cannot read a compute capability from {text!r}; expected e.g. '8.7' or 'sm87'")
        return int(digits[:-1]), int(digits[-1])
    return int(major), int(minor)


def compute_capability_text(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def sm_tag(cc: tuple[int, int]) -> str:
    """``(8, 7)`` -> ``"sm87"``, the form used in engine file names."""
    return f"sm{cc[0]}{cc[1]}"


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: tuple[int, int]
    integrated: bool  # True on Jetson (the GPU shares memory with the CPU)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "compute_capability": compute_capability_text(self.compute_capability),
            "integrated": self.integrated,
        }


def _gpu_from_cuda_python(device: int) -> GpuInfo | None:
    try:
        from cuda.bindings import runtime as cudart  # pyright: ignore[reportMissingImports]
    except ImportError:
        try:
            from cuda import cudart  # pyright: ignore[reportMissingImports]
        except ImportError:
            return None
    err, props = cudart.cudaGetDeviceProperties(device)
    if err != cudart.cudaError_t.cudaSuccess:
        raise Cnn2GnnError(
            f"CUDA cannot read GPU {device} (cudaGetDeviceProperties returned {err}); "
            "check the NVIDIA driver (nvidia-smi, or tegrastats on a Jetson)"
        )
    raw_name = props.name
    name = raw_name.decode("utf-8", "replace") if isinstance(raw_name, (bytes, bytearray)) else str(raw_name)
    return GpuInfo(name.rstrip("\x00").strip(), (int(props.major), int(props.minor)), bool(props.integrated))


def _gpu_from_pycuda(device: int) -> GpuInfo | None:
    try:
        import pycuda.driver as cuda  # pyright: ignore[reportMissingImports]
    except ImportError:
        return None
    try:
        cuda.init()
        dev = cuda.Device(device)
        major, minor = dev.compute_capability()
        integrated = bool(dev.get_attribute(cuda.device_attribute.INTEGRATED))
        return GpuInfo(str(dev.name()), (int(major), int(minor)), integrated)
    except cuda.Error as exc:
        raise Cnn2GnnError(f"CUDA (pycuda) cannot read GPU {device}: {exc}; check the NVIDIA driver") from exc


def query_gpu_info(device: int = 0) -> GpuInfo:
    """The GPU TensorRT will build for. Raises :class:`Cnn2GnnError` saying what to install when
    neither cuda-python nor pycuda is present."""
    for query in (_gpu_from_cuda_python, _gpu_from_pycuda):
        info = query(device)
        if info is not None:
            return info
    raise Cnn2GnnError(
        f"cannot tell which GPU this is: neither cuda-python nor pycuda is installed; {CUDA_PYTHON_INSTALL_HINT}"
    )
