from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.export.serving.nvinfer_normalisation import (
    every_pixel_value_images,
    measured_error,
    nvinfer_normalisation,
)
from tests.export.serving._served_files import DIGITS_SPEC, IMAGENET_SPEC


def test_equal_stds_are_exact() -> None:
    result = nvinfer_normalisation(DIGITS_SPEC)
    assert result.exact and result.net_scale_factor == 1 / 127.5 and result.offsets == (127.5,)
    assert result.max_abs_error <= 1e-6  # float32 rounding only


def test_equal_stds_on_three_channels_are_exact_too() -> None:
    result = nvinfer_normalisation(Preprocessing(height=4, width=4, channels=3, mean=(0.1, 0.5, 0.9), std=(0.3,) * 3))
    assert result.exact and result.offsets == pytest.approx((25.5, 127.5, 229.5)) and result.max_abs_error <= 1e-6


def test_per_channel_stds_get_the_minimax_scale_with_its_error_measured() -> None:
    result = nvinfer_normalisation(IMAGENET_SPEC)
    scales = [1 / (255 * s) for s in IMAGENET_SPEC.std]
    assert not result.exact
    assert result.net_scale_factor == pytest.approx((min(scales) + max(scales)) / 2, rel=1e-15)
    # Measured and derived agree: the worst pixel value is 0 or 255, where the error is the bound.
    assert result.max_abs_error == pytest.approx((max(scales) - min(scales)) / 2 * 127.5, abs=1e-6)
    # Better than the plain choice (mean scale, offsets = 255 * mean) in the worst case.
    plain = measured_error(IMAGENET_SPEC, float(np.mean(scales)), tuple(255 * m for m in IMAGENET_SPEC.mean))
    assert result.max_abs_error < plain


@pytest.mark.parametrize("size", [1, 8, 16, 32])
def test_the_measurement_images_hold_every_pixel_value_in_every_channel(size: int) -> None:
    spec = Preprocessing(height=size, width=size, channels=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    images = every_pixel_value_images(spec)
    assert images.dtype == np.uint8 and images.shape[1:] == (size, size, 3)
    for channel in range(3):
        assert set(np.unique(images[..., channel])) == set(range(256))
