"""Our normalisation as DeepStream nvinfer's ``y = net-scale-factor * (x - offset)``, with its error measured.

nvinfer normalises the 0-255 pixels of the network-size image (already in the network's colour
format) with one scale for every channel and one offset per channel. Ours is
``(x / 255 - mean_c) / std_c = k_c * (x - 255 * mean_c)`` with ``k_c = 1 / (255 * std_c)``: one scale
exists only when every std is equal. Otherwise the closest single scale in the worst case over all
pixel values is the midpoint ``k`` of the ``k_c``, with offsets chosen so each channel's error
``(k - k_c) * (x - 127.5)`` is centred on the pixel range; its bound is ``(max k_c - min k_c) / 2 * 127.5``.

The error is measured, not only derived: nvinfer's formula in float32 (as its CUDA kernel computes
it) against :func:`~cnn2gnn.contracts.preprocessing.preprocess_images` on network-size images that
hold every pixel value 0..255 in every channel. Normalisation is per pixel, so that maximum is the
largest difference any image already at the network size can show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images


@dataclass(frozen=True)
class NvinferNormalisation:
    net_scale_factor: float
    offsets: tuple[float, ...]  # one per network channel, in the network's channel order
    exact: bool  # our per-channel std is one scale (up to float32 rounding)
    max_abs_error: float  # measured, in normalised-tensor units, over every pixel value 0..255


def apply_nvinfer_normalisation(images: np.ndarray, net_scale_factor: float, offsets: tuple[float, ...]) -> np.ndarray:
    """nvinfer's normalisation of uint8 NHWC images already at the network size -> float32 NCHW."""
    pixels = np.asarray(images).astype(np.float32)
    normalised = np.float32(net_scale_factor) * (pixels - np.asarray(offsets, dtype=np.float32))
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))


def every_pixel_value_images(spec: Preprocessing) -> np.ndarray:
    """uint8 NHWC images at the network size that together hold each value 0..255 in every channel."""
    per_image = spec.height * spec.width
    count = math.ceil(256 / per_image)
    values = np.resize(np.arange(256, dtype=np.uint8), count * per_image).reshape(count, spec.height, spec.width)
    return np.repeat(values[..., None], spec.channels, axis=3)


def measured_error(spec: Preprocessing, net_scale_factor: float, offsets: tuple[float, ...]) -> float:
    """Max |ours - nvinfer's| on :func:`every_pixel_value_images` (channels in the network's order)."""
    images = every_pixel_value_images(spec)
    # Handing the images over in the network's own order makes preprocess_images leave the channels in place.
    ours = preprocess_images(images, spec, input_order=spec.color_order)
    theirs = apply_nvinfer_normalisation(images, net_scale_factor, offsets)
    return float(np.max(np.abs(ours - theirs)))


def nvinfer_normalisation(spec: Preprocessing) -> NvinferNormalisation:
    scales = [1.0 / (255.0 * s) for s in spec.std]
    exact = len(set(spec.std)) == 1
    if exact:
        scale = scales[0]
        offsets = tuple(255.0 * m for m in spec.mean)
    else:
        scale = (min(scales) + max(scales)) / 2.0
        offsets = tuple((k * 255.0 * m + (scale - k) * 127.5) / scale for k, m in zip(scales, spec.mean))
    return NvinferNormalisation(scale, offsets, exact, measured_error(spec, scale, offsets))
