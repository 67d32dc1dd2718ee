"""The single preprocessing definition, checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_image, preprocess_images


def _spec(size: tuple[int, int] = (2, 2), channels: int = 1, **kw: object) -> Preprocessing:
    mean = kw.pop("mean", (0.5,) * channels)
    std = kw.pop("std", (0.5,) * channels)
    return Preprocessing(height=size[0], width=size[1], channels=channels, mean=mean, std=std, **kw)  # type: ignore[arg-type]


def test_gray_scaling_and_normalisation() -> None:
    img = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    out = preprocess_image(img, _spec())
    # (v / 255 - 0.5) / 0.5
    np.testing.assert_allclose(out, [[[-1.0, 1.0], [-0.6, -0.2]]], atol=1e-6)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2)


def test_per_channel_mean_and_std() -> None:
    img = np.zeros((1, 1, 3), dtype=np.uint8)
    img[0, 0] = (255, 102, 0)  # 1.0, 0.4, 0.0 after scaling
    spec = _spec((1, 1), 3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    expected = [(1.0 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.0 - 0.406) / 0.225]
    np.testing.assert_allclose(preprocess_image(img, spec)[:, 0, 0], expected, rtol=1e-5)


def test_rgb_to_gray_uses_bt601_luma() -> None:
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    out = preprocess_image(img, _spec((1, 4), mean=(0.0,), std=(1.0,)))
    np.testing.assert_allclose(out[0, 0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)


def test_bgr_input_is_swapped_to_rgb() -> None:
    bgr = np.array([[[10, 20, 30]]], dtype=np.uint8)  # B=10, G=20, R=30
    raw = _spec((1, 1), 3, mean=(0.0,) * 3, std=(1.0,) * 3)
    np.testing.assert_allclose(preprocess_image(bgr, raw, input_order="BGR")[:, 0, 0], np.array([30, 20, 10]) / 255,
                               atol=1e-6)
    np.testing.assert_allclose(preprocess_image(bgr, raw, input_order="RGB")[:, 0, 0], np.array([10, 20, 30]) / 255,
                               atol=1e-6)
    gray = preprocess_image(bgr, _spec((1, 1), mean=(0.0,), std=(1.0,)), input_order="BGR")
    assert gray[0, 0, 0] == pytest.approx((0.299 * 30 + 0.587 * 20 + 0.114 * 10) / 255, abs=1e-6)


def test_model_wanting_bgr_gets_bgr_whatever_the_input_order() -> None:
    rgb = np.array([[[10, 20, 30]]], dtype=np.uint8)
    spec = _spec((1, 1), 3, mean=(0.0,) * 3, std=(1.0,) * 3, color_order="BGR")
    from_rgb = preprocess_image(rgb, spec, input_order="RGB")
    from_bgr = preprocess_image(rgb[:, :, ::-1], spec, input_order="BGR")
    np.testing.assert_allclose(from_rgb[:, 0, 0], np.array([30, 20, 10]) / 255, atol=1e-6)
    np.testing.assert_array_equal(from_rgb, from_bgr)


def test_gray_to_three_channels_repeats() -> None:
    img = np.array([[102]], dtype=np.uint8)  # 0.4
    spec = _spec((1, 1), 3, mean=(0.1, 0.2, 0.3), std=(0.5, 1.0, 2.0))
    np.testing.assert_allclose(preprocess_image(img, spec)[:, 0, 0], [0.6, 0.2, 0.05], atol=1e-6)
    np.testing.assert_array_equal(preprocess_image(img[:, :, None], spec), preprocess_image(img, spec))


def test_alpha_is_dropped() -> None:
    rgba = np.array([[[10, 20, 30, 0]]], dtype=np.uint8)
    spec = _spec((1, 1), 3)
    np.testing.assert_array_equal(preprocess_image(rgba, spec), preprocess_image(rgba[:, :, :3], spec))


def test_nearest_upscale_by_hand() -> None:
    img = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    out = preprocess_image(img, _spec((4, 4), mean=(0.0,), std=(1.0,), interpolation="nearest"))
    expected = np.kron(img / 255.0, np.ones((2, 2)))
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_area_downscale_is_the_block_mean_and_height_is_rows() -> None:
    img = np.arange(24, dtype=np.uint8).reshape(6, 4) * 10  # 6 rows, 4 columns
    out = preprocess_image(img, _spec((3, 2), mean=(0.0,), std=(1.0,), interpolation="area"))
    blocks = (img / 255.0).reshape(3, 2, 2, 2).mean(axis=(1, 3))
    assert out.shape == (1, 3, 2)
    np.testing.assert_allclose(out[0], blocks, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["linear", "area", "nearest", "cubic"])
def test_constant_image_stays_constant(interpolation: str) -> None:
    img = np.full((13, 7, 3), 153, dtype=np.uint8)  # 0.6
    out = preprocess_image(img, _spec((5, 9), 3, interpolation=interpolation))
    np.testing.assert_allclose(out, np.full((3, 5, 9), 0.2), atol=1e-5)


def test_float_input_is_taken_as_already_scaled() -> None:
    img = np.array([[0.25]], dtype=np.float64)
    assert preprocess_image(img, _spec((1, 1)))[0, 0, 0] == pytest.approx(-0.5)


def test_batch_of_images() -> None:
    imgs = [np.full((8, 8), v, dtype=np.uint8) for v in (0, 255, 128)]
    out = preprocess_images(imgs, _spec((4, 4)))
    assert out.shape == (3, 1, 4, 4) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(out[:, 0, 0, 0], [-1.0, 1.0, 128 / 127.5 - 1], atol=1e-6)
    np.testing.assert_array_equal(preprocess_images(np.stack(imgs), _spec((4, 4))), out)
    assert preprocess_images([], _spec((4, 4), 3)).shape == (0, 3, 4, 4)


def test_bad_image_shape_is_a_user_error() -> None:
    with pytest.raises(Cnn2GnnError, match="HxW"):
        preprocess_image(np.zeros((4, 4, 2), np.uint8), _spec())
    with pytest.raises(Cnn2GnnError, match="HxW"):
        preprocess_image(np.zeros(4, np.uint8), _spec())


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"height": 0}, r"1\.\.4096 pixels per side"), ({"channels": 2, "mean": (0.5,) * 2, "std": (0.5,) * 2}, "1 or 3"),
     ({"mean": (0.5, 0.5)}, "one per channel"), ({"std": (0.0,)}, "> 0"), ({"interpolation": "lanczos"}, "lanczos"),
     ({"color_order": "RGBA"}, "color_order")],
)
def test_spec_validation(kw: dict, match: str) -> None:
    with pytest.raises(Cnn2GnnError, match=match):
        Preprocessing(**kw)


def test_dict_round_trip_and_malformed_metadata() -> None:
    spec = _spec((24, 32), 3, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6), interpolation="area", color_order="BGR")
    data = spec.to_dict()
    assert data["layout"] == "NCHW" and data["mean"] == [0.1, 0.2, 0.3]
    assert Preprocessing.from_dict(data) == spec
    assert Preprocessing.default_for(3, 64) == _spec((64, 64), 3)
    with pytest.raises(Cnn2GnnError, match="incomplete or malformed"):
        Preprocessing.from_dict({"height": 32, "width": 32, "channels": 1})
    with pytest.raises(Cnn2GnnError, match="incomplete or malformed"):
        Preprocessing.from_dict({**data, "height": "tall"})
