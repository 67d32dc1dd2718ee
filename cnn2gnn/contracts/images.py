"""Decoding image files into the uint8 arrays every loader returns (RGB HxWx3 or gray HxW)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: Path) -> np.ndarray:
    """Decode ``path`` to uint8: HxW when the file is single-channel, else RGB HxWx3 (alpha dropped)."""
    try:
        import cv2
    except ImportError as exc:
        raise Cnn2GnnError(
            f"reading {path} needs OpenCV: pip install opencv-python-headless (or use JetPack's cv2)"
        ) from exc
    try:
        # cv2.imread cannot open non-ASCII paths on Windows; decoding bytes read by numpy can.
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise Cnn2GnnError(f"cannot read image file {path}: {exc}") from exc
    img = None
    if buf.size:  # imdecode asserts on an empty buffer instead of returning None
        try:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        except cv2.error:  # some damaged files trip a decoder assertion: reported below like the rest
            pass
    if img is None:
        raise Cnn2GnnError(f"{path} is corrupt or not an image (OpenCV cannot decode it); remove or replace it")

    if img.dtype == np.uint16:
        # 65535 / 257 = 255 exactly, so the full 16-bit range maps onto the full 8-bit range.
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise Cnn2GnnError(f"{path} has {img.dtype} pixels; only 8-bit and 16-bit images are supported")

    if img.ndim == 3 and img.shape[2] in (1, 2):  # gray, or gray + alpha
        img = img[:, :, 0]
    elif img.ndim == 3:
        img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def read_images(paths: list[Path]) -> list[np.ndarray]:
    """``read_image`` over many files, in order; OpenCV releases the GIL while decoding, so threads help."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(read_image, paths))


def common_channels(images: Iterable[np.ndarray]) -> int:
    """1 when every image is gray, else 3: one colour image makes the whole dataset RGB."""
    return 1 if all(img.ndim == 2 for img in images) else 3


def to_channels(images: list[np.ndarray], channels: int) -> list[np.ndarray]:
    """Repeat gray images over three channels when ``channels`` is 3: a model has one input layout."""
    if channels == 1:
        return images
    return [np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img for img in images]
