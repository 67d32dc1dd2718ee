import numpy as np
import pytest

from cnn2gnn.calibration.calibration_batches import CalibrationBatches
from cnn2gnn.contracts.errors import Cnn2GnnError


def tensors(n: int) -> np.ndarray:
    return np.arange(n * 3 * 4 * 4, dtype=np.float32).reshape(n, 3, 4, 4)


def test_fixed_size_batches_drop_the_partial_tail():
    data = tensors(23)
    batches = CalibrationBatches(data, 8)
    got = list(batches)
    assert len(batches) == batches.num_batches == len(got) == 2
    assert all(b.shape == (8, 3, 4, 4) for b in got)
    np.testing.assert_array_equal(np.concatenate(got), data[:16])  # in order, nothing repeated
    assert (batches.num_samples_used, batches.num_samples_dropped) == (16, 7)
    assert batches.batch_shape == (8, 3, 4, 4)
    assert batches.nbytes_per_batch == 8 * 3 * 4 * 4 * 4


def test_exact_multiple_uses_everything():
    batches = CalibrationBatches(tensors(16), 4)
    assert (len(batches), batches.num_samples_dropped) == (4, 0)


def test_iterating_twice_restarts():
    batches = CalibrationBatches(tensors(4), 2)
    assert len(list(batches)) == len(list(batches)) == 2


def test_batches_are_contiguous_for_device_copies():
    fortran = np.asfortranarray(tensors(4))
    assert all(b.flags["C_CONTIGUOUS"] for b in CalibrationBatches(fortran, 2))


@pytest.mark.parametrize(
    "data, batch_size, message",
    [
        (tensors(4).astype(np.float64), 2, "float32"),
        (tensors(4).reshape(4, -1), 2, r"\(N, C, H, W\)"),
        (tensors(3), 8, "fewer than one calibration batch"),
        (tensors(3), 0, "at least 1"),
    ],
)
def test_invalid_sets(data, batch_size, message):
    with pytest.raises(Cnn2GnnError, match=message):
        CalibrationBatches(data, batch_size)
