"""The single definition of image preprocessing, shared by training, export, calibration and runtime.

Torch-free on purpose: the runtime on a Jetson uses exactly this code with numpy and OpenCV, so the
tensor a deployed model sees is the tensor it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import OPENCV_HINT, lazy_import

INTERPOLATIONS = ("linear", "area", "nearest", "cubic")
# A model input side beyond this is a typo (an extra zero): one 100000x100000 float image alone is 40 GB.
MAX_IMAGE_SIDE = 4096
COLOR_ORDERS = ("RGB", "BGR")


@dataclass(frozen=True)
class Preprocessing:
    """How a uint8 image becomes the model's float32 NCHW input.

    Pixels are scaled to [0, 1], resized to ``height`` x ``width`` with ``interpolation``, converted
    to ``channels`` (gray <-> RGB), then normalised per channel with ``mean`` / ``std``. Datasets
    hand over RGB (or gray) images; OpenCV frames are BGR, so callers say which order they pass.
    """

    height: int = 32
    width: int = 32
    channels: int = 1
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    interpolation: str = "linear"
    color_order: str = "RGB"
    layout: str = field(default="NCHW", init=False)

    def __post_init__(self) -> None:
        if not (1 <= self.height <= MAX_IMAGE_SIDE and 1 <= self.width <= MAX_IMAGE_SIDE):
            raise Cnn2GnnError(
                f"image size (--image-size) must be 1..{MAX_IMAGE_SIDE} pixels per side, got {self.height}x{self.width}"
            )
        if self.channels not in (1, 3):
            raise Cnn2GnnError(f"channels must be 1 or 3, got {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise Cnn2GnnError(
                f"mean/std need {self.channels} values (one per channel), got mean={self.mean} std={self.std}"
            )
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)):
            raise Cnn2GnnError(f"mean/std must be finite numbers, got mean={self.mean} std={self.std}")
        if any(s <= 0 for s in self.std):
            raise Cnn2GnnError(f"std values must be > 0, got {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise Cnn2GnnError(f"interpolation {self.interpolation!r} unknown; use one of {INTERPOLATIONS}")
        if self.color_order not in COLOR_ORDERS:
            raise Cnn2GnnError(f"color_order {self.color_order!r} unknown; use one of {COLOR_ORDERS}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean"] = list(self.mean)
        out["std"] = list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        try:
            return cls(
                height=int(data["height"]),
                width=int(data["width"]),
                channels=int(data["channels"]),
                mean=tuple(float(v) for v in data["mean"]),
                std=tuple(float(v) for v in data["std"]),
                interpolation=str(data.get("interpolation", "linear")),
                color_order=str(data.get("color_order", "RGB")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Cnn2GnnError(f"preprocessing metadata is incomplete or malformed ({exc}): {data!r}") from exc

    @classmethod
    def default_for(cls, channels: int, size: int) -> "Preprocessing":
        return cls(height=size, width=size, channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels)


def _interpolation_flag(cv2: Any, name: str) -> int:
    return {
        "linear": cv2.INTER_LINEAR,
        "area": cv2.INTER_AREA,
        "nearest": cv2.INTER_NEAREST,
        "cubic": cv2.INTER_CUBIC,
    }[name]


def _as_hwc(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image[:, :, None]
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        return image
    raise Cnn2GnnError(f"expected an HxW or HxWxC (C in 1, 3, 4) image, got shape {image.shape}")


def preprocess_image(image: np.ndarray, spec: Preprocessing, input_order: str = "RGB") -> np.ndarray:
    """One uint8 (or float in [0, 1]) image -> float32 CHW tensor, following ``spec``."""
    cv2 = lazy_import("cv2", OPENCV_HINT, "preprocessing")
    img = _as_hwc(np.asarray(image))
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype == np.uint8 and img.shape[0] * img.shape[1] > spec.height * spec.width:
        # Shrinking a camera frame: resize the uint8 pixels first, so the float conversion and colour
        # maths run on the small image (a 640x480 frame goes from ~3.5 ms to ~0.2 ms). Training
        # images take this same path, so train and deploy still see identical tensors.
        img = _as_hwc(cv2.resize(np.ascontiguousarray(img), (spec.width, spec.height),
                                 interpolation=_interpolation_flag(cv2, spec.interpolation)))
    if img.dtype == np.uint8:
        img = img.astype(np.float32) * (1.0 / 255.0)
    else:
        img = img.astype(np.float32)
    if img.shape[2] == 3:
        if input_order == "BGR":
            img = img[:, :, ::-1]
        if spec.channels == 1:
            # ITU-R 601 luma, the same weights OpenCV's RGB2GRAY uses. Written out per channel, not as a
            # matmul: BLAS sums in a layout-dependent order, and a BGR-flipped view must give the
            # same bits as a contiguous RGB image.
            r, g, b = img[:, :, 0], img[:, :, 1], img[:, :, 2]
            img = (r * np.float32(0.299) + g * np.float32(0.587) + b * np.float32(0.114))[:, :, None]
    elif spec.channels == 3:
        img = np.repeat(img, 3, axis=2)
    if spec.color_order == "BGR" and spec.channels == 3:
        img = img[:, :, ::-1]
    if img.shape[0] != spec.height or img.shape[1] != spec.width:
        img = cv2.resize(
            np.ascontiguousarray(img),
            (spec.width, spec.height),
            interpolation=_interpolation_flag(cv2, spec.interpolation),
        )
        if img.ndim == 2:
            img = img[:, :, None]
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    img = (img - mean) / std
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)


def preprocess_images(
    images: Sequence[np.ndarray] | np.ndarray | Iterable[np.ndarray],
    spec: Preprocessing,
    input_order: str = "RGB",
) -> np.ndarray:
    """A batch of images (list or N-leading array) -> float32 (N, C, H, W)."""
    out = [preprocess_image(img, spec, input_order) for img in images]
    if not out:
        return np.zeros((0, *spec.input_shape), dtype=np.float32)
    return np.stack(out)
