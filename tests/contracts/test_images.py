from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import (
    IMAGE_EXTENSIONS,
    common_channels,
    is_image_file,
    read_image,
    read_images,
    to_channels,
)
from tests.toolchain.data._writers import pattern_image, write_image

cv2 = pytest.importorskip("cv2")


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".ppm"])
def test_lossless_colour_round_trip_is_exact_rgb(tmp_path, ext):
    img = pattern_image(1, (5, 7, 3))
    img[0, 0] = (255, 0, 0)  # pure red must stay in channel 0: RGB order, not OpenCV's BGR
    out = read_image(write_image(tmp_path / f"a{ext}", img))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, img)
    assert tuple(out[0, 0]) == (255, 0, 0)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".pgm", ".tiff"])
def test_lossless_gray_stays_two_dimensional(tmp_path, ext):
    img = pattern_image(2, (6, 4))
    out = read_image(write_image(tmp_path / f"g{ext}", img))
    assert out.shape == (6, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, img)


def test_jpeg_decodes_close_to_what_was_written(tmp_path):
    img = np.full((16, 16, 3), (200, 30, 90), dtype=np.uint8)
    out = read_image(write_image(tmp_path / "a.jpg", img))
    assert out.shape == (16, 16, 3)
    assert np.abs(out.astype(int) - img).max() <= 3


def test_alpha_is_dropped(tmp_path):
    rgba = np.zeros((3, 3, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 10, 128
    out = read_image(write_image(tmp_path / "a.png", rgba))
    assert out.shape == (3, 3, 3)
    assert tuple(out[1, 1]) == (10, 0, 0)


def test_sixteen_bit_is_scaled_to_the_full_eight_bit_range(tmp_path):
    img16 = np.array([[0, 257, 65535, 128 * 257]], dtype=np.uint16)
    cv2.imencode(".png", img16)[1].tofile(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 1, 255, 128]])


def test_non_ascii_path(tmp_path):
    img = pattern_image(3, (4, 4, 3))
    path = write_image(tmp_path / "bilder-ä" / "猫.png", img)
    np.testing.assert_array_equal(read_image(path), img)


def test_random_bytes_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(Cnn2GnnError, match=r"broken\.png is corrupt or not an image"):
        read_image(bad)


def test_empty_file_names_the_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(Cnn2GnnError, match=r"empty\.jpg is corrupt or not an image"):
        read_image(tmp_path / "empty.jpg")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(Cnn2GnnError, match=r"nothere\.png"):
        read_image(tmp_path / "nothere.png")


def test_read_images_keeps_order(tmp_path):
    imgs = [pattern_image(i, (3, 3)) for i in range(12)]
    paths = [write_image(tmp_path / f"{i}.png", img) for i, img in enumerate(imgs)]
    for got, want in zip(read_images(paths), imgs):
        np.testing.assert_array_equal(got, want)


def test_channels_are_unified_only_when_mixed():
    gray, colour = np.full((2, 2), 7, np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert common_channels([gray, gray]) == 1
    assert to_channels([gray], 1)[0].shape == (2, 2)
    assert common_channels([gray, colour]) == 3
    widened = to_channels([gray, colour], 3)
    assert widened[0].shape == (2, 2, 3) and (widened[0] == 7).all()
    assert widened[1] is colour


def test_extensions_cover_the_documented_set():
    assert {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"} == set(IMAGE_EXTENSIONS)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` 8-bit gray pixels, with a tiny IDAT: a few hundred bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def test_an_image_above_opencvs_pixel_limit_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.delenv("CV_IO_MAX_IMAGE_PIXELS", raising=False)
    path = tmp_path / "huge.png"
    path.write_bytes(_png_claiming(40000, 40000))
    with pytest.raises(Cnn2GnnError) as err:
        read_image(path)
    message = str(err.value)
    assert message.startswith(f"{path} is 40000x40000 pixels, above OpenCV's limit of 1073741824 pixels")
    assert "CV_IO_MAX_IMAGE_PIXELS=1600000000" in message and "downscale" in message and "corrupt" not in message


def test_header_size_reads_png_and_jpeg_headers(tmp_path):
    from cnn2gnn.contracts.images import header_size

    assert header_size(_png_claiming(300, 200)) == (200, 300)
    jpeg = write_image(tmp_path / "a.jpg", pattern_image(3, (7, 5, 3))).read_bytes()
    assert header_size(jpeg) == (7, 5)
    assert header_size(b"not an image") is None and header_size(b"\xff\xd8\xff") is None


def test_a_damaged_small_png_is_still_called_corrupt(tmp_path):
    path = tmp_path / "small.png"
    path.write_bytes(_png_claiming(40, 40)[:40])
    with pytest.raises(Cnn2GnnError, match="is corrupt or not an image"):
        read_image(path)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])  # BMP has no header reader: decoded instead
@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 3), (7, 5, 4)])
def test_image_layout_is_what_read_image_decodes(tmp_path, ext, shape):
    from cnn2gnn.contracts.images import image_layout

    if ext == ".jpg" and len(shape) == 3 and shape[2] == 4:
        pytest.skip("JPEG has no alpha")
    path = write_image(tmp_path / f"x{ext}", pattern_image(3, shape))
    decoded = read_image(path)
    assert image_layout(path) == (*decoded.shape[:2], 1 if decoded.ndim == 2 else 3)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an EXIF APP1 segment right after SOI whose only tag is Orientation (0x0112)."""
    tiff = b"II*\x00" + (8).to_bytes(4, "little")  # little-endian TIFF header, first IFD at offset 8
    tiff += (1).to_bytes(2, "little")  # one entry: tag, type SHORT, count 1, value (padded to 4 bytes)
    tiff += (0x0112).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
    tiff += orientation.to_bytes(2, "little") + b"\x00\x00" + (0).to_bytes(4, "little")  # no next IFD
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def test_a_jpeg_is_turned_upright_as_its_exif_orientation_says(tmp_path):
    """A phone photo stored sideways with Orientation 6 (rotate 90 degrees clockwise to view): a camera stream's
    frames are upright, so training images must be too."""
    pixels = np.zeros((16, 32), np.uint8)
    pixels[:, :8] = 255  # a bright left edge as stored
    plain = write_image(tmp_path / "plain.jpg", pixels)
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(_with_exif_orientation(plain.read_bytes(), 6))
    stored, upright = read_image(plain), read_image(rotated)
    assert stored.shape == (16, 32) and upright.shape == (32, 16)
    assert np.abs(upright.astype(int) - np.rot90(stored, k=-1)).max() <= 8  # the left edge is now the top


def test_hidden_and_macos_residue_files_are_not_images(tmp_path: Path) -> None:
    # enroll --images, run's image folders and imagefolder datasets all ask this one question
    for name in ("._cat.png", ".cat.png", "cat.png"):
        (tmp_path / name).write_bytes(b"\x00\x05\x16\x07")  # macOS's AppleDouble header, not a PNG
    (tmp_path / "__MACOSX").mkdir()
    assert [p.name for p in sorted(tmp_path.iterdir()) if is_image_file(p)] == ["cat.png"]
