"""Decoding image files into the uint8 arrays every loader returns (RGB HxWx3 or gray HxW)."""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import OPENCV_HINT, lazy_import

# How read_image turns a file into pixels. A listing's fingerprint (path, size, mtime: the pixels are not read)
# includes it, so a change in decoding (EXIF orientation applied since version 2) moves every such fingerprint and
# the caches keyed by it are recomputed instead of reused.
IMAGE_DECODING = "cnn2gnn-read-image/2"
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
OPENCV_DEFAULT_MAX_PIXELS = 1 << 30  # OpenCV's CV_IO_MAX_IMAGE_PIXELS default
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...); 0xC4, 0xC8 and 0xCC are other segments.
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
HEADER_SCAN_BYTES = 1 << 16  # a JPEG's frame header follows its EXIF/ICC segments, usually well within this


def is_hidden_or_tool_name(name: str) -> bool:
    """Hidden files and folders (.git, .ipynb_checkpoints, macOS's ._x.png) and macOS's zip residue (__MACOSX) hold
    copies or tool state, not images anyone meant to give."""
    return name.startswith(".") or name == "__MACOSX"


def is_image_file(path: Path) -> bool:
    return (path.suffix.lower() in IMAGE_EXTENSIONS and not is_hidden_or_tool_name(path.name)) and path.is_file()


def read_image(path: Path) -> np.ndarray:
    """Decode ``path`` to uint8: HxW when the file is single-channel, else RGB HxWx3 (alpha dropped), turned upright
    as its EXIF orientation says (a phone photo stored sideways is viewed, and seen by a camera, upright)."""
    cv2 = lazy_import("cv2", OPENCV_HINT, f"reading {path}")
    try:
        # cv2.imread cannot open non-ASCII paths on Windows; decoding bytes read by numpy can.
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise Cnn2GnnError(f"cannot read image file {path}: {exc}") from exc
    img = None
    if buf.size:  # imdecode asserts on an empty buffer instead of returning None
        try:
            # Any depth and channel count as stored, like IMREAD_UNCHANGED, which alone skips the EXIF orientation
            # (and keeps alpha, dropped below anyway).
            img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        except cv2.error:  # some damaged files trip a decoder assertion: reported below like the rest
            pass
    if img is None:
        size = header_size(buf.tobytes()[:HEADER_SCAN_BYTES])
        limit = opencv_pixel_limit()
        if size is not None and size[0] * size[1] > limit:
            raise Cnn2GnnError(
                f"{path} is {size[1]}x{size[0]} pixels, above OpenCV's limit of {limit} pixels "
                f"(CV_IO_MAX_IMAGE_PIXELS), so OpenCV refuses to decode it; downscale the image, or raise the "
                f"limit by setting CV_IO_MAX_IMAGE_PIXELS={size[0] * size[1]} in the environment"
            )
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


def opencv_pixel_limit() -> int:
    """The most pixels OpenCV decodes: ``CV_IO_MAX_IMAGE_PIXELS`` (read by OpenCV itself), default 2**30."""
    try:
        return int(os.environ.get("CV_IO_MAX_IMAGE_PIXELS", OPENCV_DEFAULT_MAX_PIXELS))
    except ValueError:
        return OPENCV_DEFAULT_MAX_PIXELS


def header_size(head: bytes) -> tuple[int, int] | None:
    """(height, width) from a PNG IHDR or a JPEG start-of-frame header; None for other or damaged files.

    Read by hand because OpenCV rejects an image above its pixel limit as undecodable, without saying why.
    """
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return height, width
    sof = _jpeg_frame_header(head)
    if sof is None:
        return None
    height, width = struct.unpack(">HH", sof[3:7])
    return height, width


def header_channels(head: bytes) -> int | None:
    """1 (gray) or 3 (colour) as ``read_image`` would decode a PNG or JPEG with this header; None for others.

    PNG colour type 0 is gray; gray+alpha, palette, RGB and RGBA decode to colour. A JPEG with one
    component is gray; YCbCr and CMYK decode to colour.
    """
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 26:
        return 1 if head[25] == 0 else 3
    sof = _jpeg_frame_header(head)
    if sof is None:
        return None
    return 1 if sof[7] == 1 else 3


def _jpeg_frame_header(head: bytes) -> bytes | None:
    """The bytes of a JPEG's start-of-frame segment after its marker (length, precision, height, width,
    components), walking the segments before it; None when ``head`` is no JPEG or ends first."""
    if not head.startswith(b"\xff\xd8"):
        return None
    pos = 2
    while pos + 10 <= len(head) and head[pos] == 0xFF:
        marker, length = head[pos + 1], struct.unpack(">H", head[pos + 2:pos + 4])[0]
        if marker in JPEG_SOF_MARKERS:
            return head[pos + 2:pos + 10]
        pos += 2 + length
    return None


def image_layout(path: Path) -> tuple[int, int, int]:
    """(height, width, channels) of the image ``read_image`` decodes from ``path``, from the file's header
    alone for PNG and JPEG (a listing of a million files must not decode them), else by decoding it. An image
    that its EXIF orientation turns by 90 degrees decodes with height and width swapped: what the listing's
    sizes are used for (the shortest side) does not change."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_SCAN_BYTES)
    except OSError as exc:
        raise Cnn2GnnError(f"cannot read image file {path}: {exc}") from exc
    size, channels = header_size(head), header_channels(head)
    if size is not None and channels is not None:
        return size[0], size[1], channels
    img = read_image(path)
    return img.shape[0], img.shape[1], 1 if img.ndim == 2 else 3


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
