import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.engine.profiles import batch_profile, image_dims, profile_shapes

DYNAMIC = [-1, 3, 32, 32]


def test_defaults_for_a_dynamic_batch():
    assert batch_profile(DYNAMIC) == (1, 1, 64)
    assert profile_shapes(DYNAMIC) == ((1, 3, 32, 32), (1, 3, 32, 32), (64, 3, 32, 32))


@pytest.mark.parametrize("batch_dim", [-1, 0, None, "N", "batch"])
def test_every_spelling_of_a_dynamic_batch(batch_dim):
    assert batch_profile([batch_dim, 1, 8, 8], 2, 4, 16) == (2, 4, 16)


def test_opt_defaults_into_the_range():
    assert batch_profile(DYNAMIC, min_batch=4) == (4, 4, 64)
    assert batch_profile(DYNAMIC, max_batch=1) == (1, 1, 1)


@pytest.mark.parametrize(
    "lo, opt, hi, message",
    [
        (0, 1, 4, "at least 1"),
        (4, 2, 8, "min <= opt <= max"),
        (1, 16, 8, "min <= opt <= max"),
        (8, None, 4, "min <= opt <= max"),
    ],
)
def test_invalid_profiles(lo, opt, hi, message):
    with pytest.raises(Cnn2GnnError, match=message):
        batch_profile(DYNAMIC, lo, opt, hi)


def test_static_batch_fixes_the_profile():
    assert profile_shapes([1, 1, 8, 8]) == ((1, 1, 8, 8),) * 3
    assert batch_profile([4, 1, 8, 8], 4, 4, 4) == (4, 4, 4)


def test_static_batch_refuses_another_profile_and_names_the_options():
    with pytest.raises(Cnn2GnnError, match=r"fixed batch of 1.*--max-batch 64"):
        batch_profile([1, 1, 8, 8], max_batch=64, input_name="m.onnx input")


def test_only_the_batch_axis_may_be_dynamic():
    with pytest.raises(Cnn2GnnError, match="dynamic H axis"):
        image_dims([-1, 3, "height", 32])


def test_inputs_must_be_nchw():
    with pytest.raises(Cnn2GnnError, match="4 dims"):
        batch_profile([-1, 64])
