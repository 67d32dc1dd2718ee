import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensor_buffers import Chunk, numpy_dtype_for_trt, plan_chunks, tensor_nbytes


def test_tensor_nbytes():
    assert tensor_nbytes((64, 3, 32, 32), np.float32) == 64 * 3 * 32 * 32 * 4
    assert tensor_nbytes((8, 10), "float16") == 160
    assert tensor_nbytes((), np.int64) == 8
    assert tensor_nbytes((0, 10), np.float32) == 0


def test_tensor_nbytes_refuses_dynamic_dims():
    with pytest.raises(Cnn2GnnError, match="dynamic"):
        tensor_nbytes((-1, 3, 32, 32), np.float32)


class _FakeTrtDtype:
    """Stands in for a trt.DataType member: only its ``name`` attribute is read."""

    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize(
    "given, expected",
    [("FLOAT", np.float32), ("DataType.HALF", np.float16), ("INT8", np.int8), ("int32", np.int32),
     ("INT64", np.int64), ("BOOL", np.bool_), ("UINT8", np.uint8), (_FakeTrtDtype("FLOAT"), np.float32)],
)
def test_trt_dtype_names_map_to_numpy(given, expected):
    assert numpy_dtype_for_trt(given) == np.dtype(expected)


@pytest.mark.parametrize("name", ["BF16", "DataType.FP8", "INT4"])
def test_dtypes_without_numpy_equivalent_are_explained(name):
    with pytest.raises(Cnn2GnnError, match="no numpy equivalent"):
        numpy_dtype_for_trt(name)


def test_plan_chunks_splits_above_max_and_pads_below_min():
    assert plan_chunks(10, 1, 4) == [Chunk(0, 4, 4), Chunk(4, 8, 4), Chunk(8, 10, 2)]
    assert plan_chunks(3, 4, 8) == [Chunk(0, 3, 4)]
    assert plan_chunks(9, 4, 8) == [Chunk(0, 8, 8), Chunk(8, 9, 4)]
    assert plan_chunks(0, 1, 8) == []


@pytest.mark.parametrize("n, lo, hi", [(1, 1, 1), (100, 1, 7), (64, 64, 64), (65, 2, 64), (5, 3, 3)])
def test_plan_chunks_covers_every_sample_once_within_the_profile(n, lo, hi):
    chunks = plan_chunks(n, lo, hi)
    covered = [i for c in chunks for i in range(c.start, c.stop)]
    assert covered == list(range(n))
    assert all(lo <= c.run_size <= hi and c.run_size >= c.stop - c.start for c in chunks)


def test_plan_chunks_rejects_an_empty_profile():
    with pytest.raises(Cnn2GnnError):
        plan_chunks(4, 8, 4)
