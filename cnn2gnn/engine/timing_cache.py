"""TensorRT timing caches: reuse the kernel timings of earlier builds (much faster rebuilds on Jetson).

Loaded with ``ignore_mismatch=False``, so a cache made by another TensorRT version or GPU is refused
instead of silently feeding wrong timings; saved atomically after a successful build, merged with
what the build measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cnn2gnn.contracts.atomic_io import atomic_write_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError

if TYPE_CHECKING:
    import tensorrt as trt

_FIX = "delete it or pass another --timing-cache path; a new cache is written there after the build"


def load_timing_cache(config: "trt.IBuilderConfig", path: str | Path) -> None:
    """Attach the cache at ``path`` (an empty one when the file does not exist yet) to ``config``."""
    cache_file = Path(path)
    data = cache_file.read_bytes() if cache_file.is_file() else b""
    try:
        cache = config.create_timing_cache(data)
    except Exception as exc:  # TensorRT raises its own RuntimeError types for unreadable blobs
        raise Cnn2GnnError(f"timing cache {cache_file} cannot be read by TensorRT ({exc}); {_FIX}") from exc
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        raise Cnn2GnnError(
            f"timing cache {cache_file} was made by another TensorRT version or GPU and would give wrong "
            f"timings; {_FIX}"
        )


def save_timing_cache(config: "trt.IBuilderConfig", path: str | Path) -> Path:
    serialized = config.get_timing_cache().serialize()
    return atomic_write_bytes(path, bytes(serialized))
