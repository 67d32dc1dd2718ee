"""Pure arithmetic behind device execution: buffer sizes, TensorRT dtypes as numpy, batch chunking.

Kept free of TensorRT and CUDA so it is tested on any machine; the TensorRT backend only wires it up.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

# TensorRT DataType member names -> numpy. BF16, FP8, INT4 and FP4 have no numpy dtype: the exporter
# keeps model inputs and outputs in FP32 (or FP16), so meeting one at the IO boundary is a build problem.
_TRT_TO_NUMPY = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
}


def numpy_dtype_for_trt(dtype_name: object) -> np.dtype:
    """``trt.DataType.HALF`` (or its name, "HALF" / "DataType.HALF") -> ``np.float16``."""
    name = getattr(dtype_name, "name", None) or str(dtype_name)
    name = name.rsplit(".", 1)[-1].upper()
    try:
        return np.dtype(_TRT_TO_NUMPY[name])
    except KeyError:
        raise Cnn2GnnError(
            f"engine input/output dtype {name} has no numpy equivalent (supported: {', '.join(_TRT_TO_NUMPY)}); "
            "rebuild the engine from an ONNX model whose inputs and outputs are FP32 or FP16"
        ) from None


def tensor_nbytes(shape: Sequence[int], dtype: np.dtype | type | str) -> int:
    """Bytes a dense tensor of ``shape`` and ``dtype`` occupies; dynamic (-1) dims are an error."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise Cnn2GnnError(f"cannot size a buffer for shape {tuple(dims)}: it has dynamic (-1) dimensions")
    return int(np.prod(dims, dtype=np.int64)) * np.dtype(dtype).itemsize


class Chunk(NamedTuple):
    """Rows ``start:stop`` of a batch, run as a batch of ``run_size`` (>= stop - start, padded with zeros)."""

    start: int
    stop: int
    run_size: int


def plan_chunks(n: int, min_batch: int, max_batch: int) -> list[Chunk]:
    """Split ``n`` samples into chunks an engine profile accepts: at most ``max_batch`` each, and a chunk
    smaller than ``min_batch`` padded up to it (its extra outputs are dropped)."""
    if not 1 <= min_batch <= max_batch:
        raise Cnn2GnnError(f"invalid batch range: min {min_batch}, max {max_batch}")
    chunks = []
    for start in range(0, n, max_batch):
        stop = min(start + max_batch, n)
        chunks.append(Chunk(start, stop, max(stop - start, min_batch)))
    return chunks
