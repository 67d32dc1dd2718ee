"""Tiny datasets written byte-for-byte in the real on-disk formats, for tests and benchmarks.

Every writer takes uint8 arrays and a target folder and returns what a loader should read back.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

# --- images -------------------------------------------------------------------------------------


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write an RGB (HxWx3), RGBA (HxWx4) or gray (HxW) array with OpenCV; non-ASCII paths work."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(path.suffix, image)
    assert ok, f"OpenCV cannot encode {path.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded.tofile(path)
    return path


def pattern_image(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """A reproducible random uint8 image, distinct per seed, so a read-back can be matched exactly."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def write_class_folders(root: Path, per_class: Mapping[str, Sequence[np.ndarray]], ext: str = ".png") -> None:
    """``root/<class>/<i>.png`` for each image: the imagefolder layout (use root/train etc. for splits)."""
    for name, images in per_class.items():
        for i, img in enumerate(images):
            write_image(root / name / f"{i:04d}{ext}", img)


# --- IDX (MNIST) --------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding: two zero bytes, type 0x08 (ubyte), ndim, big-endian uint32 dims, raw data."""
    assert array.dtype == np.uint8
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    data = idx_bytes(array)
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def write_mnist(
    root: Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    gz: bool = True,
    names: dict[str, str] = MNIST_NAMES,
) -> dict[str, Path]:
    """The four MNIST files, gzipped as downloaded by default. Images N x H x W, labels N (uint8)."""
    arrays = {"train_images": train[0], "train_labels": train[1], "test_images": test[0], "test_labels": test[1]}
    suffix = ".gz" if gz else ""
    return {key: write_idx(root / (names[key] + suffix), arrays[key].astype(np.uint8)) for key in arrays}


# --- CIFAR (python version) ---------------------------------------------------------------------


def py2_pickle(obj: object) -> bytes:
    """Pickle ``obj`` the way Python 2's cPickle (protocol 2) with numpy 1 wrote the CIFAR archives.

    Python 2 ``str`` becomes (SHORT_)BINSTRING, which Python 3 reads as bytes under
    ``encoding='bytes'``; arrays reference ``numpy.core.multiarray._reconstruct``. Supports bytes,
    str, int, None, bool, list, tuple, dict and uint8 ndarrays.
    """
    out = bytearray(b"\x80\x02")

    def put(o: object) -> None:
        if o is None:
            out.extend(b"N")
        elif isinstance(o, bool):
            out.extend(b"\x88" if o else b"\x89")
        elif isinstance(o, int):
            out.extend(b"J" + struct.pack("<i", o))
        elif isinstance(o, float):
            out.extend(b"G" + struct.pack(">d", o))  # BINFLOAT
        elif isinstance(o, (bytes, str)):
            data = o.encode() if isinstance(o, str) else o
            short = len(data) < 256  # SHORT_BINSTRING, else BINSTRING
            out.extend((b"U" + bytes([len(data)]) if short else b"T" + struct.pack("<i", len(data))) + data)
        elif isinstance(o, tuple):
            out.extend(b"(")
            for item in o:
                put(item)
            out.extend(b"t")
        elif isinstance(o, list):
            out.extend(b"](")
            for item in o:
                put(item)
            out.extend(b"e")
        elif isinstance(o, dict):
            out.extend(b"}(")
            for k, v in o.items():
                put(k)
                put(v)
            out.extend(b"u")
        elif isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            put((0,))
            put(b"b")
            out.extend(b"\x87R")  # TUPLE3, REDUCE
            out.extend(b"(J\x01\x00\x00\x00")  # state: (1, shape, dtype, fortran, raw data)
            put(tuple(int(d) for d in o.shape))
            out.extend(b"cnumpy\ndtype\n")
            put((b"u1", 0, 1))
            out.extend(b"R")
            put((3, b"|", None, None, None, -1, -1, 0))
            out.extend(b"b")  # BUILD the dtype
            put(False)
            put(np.ascontiguousarray(o).tobytes())
            out.extend(b"tb")  # close the state tuple, BUILD the array
        else:
            raise TypeError(type(o))

    put(obj)
    out.extend(b".")
    return bytes(out)


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """N x 32 x 32 x 3 RGB -> N x 3072, the R, G and B planes one after another as in the archive."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def write_cifar10(
    root: Path,
    train_batches: Sequence[tuple[np.ndarray, np.ndarray]],
    test: tuple[np.ndarray, np.ndarray],
    label_names: Sequence[str],
) -> Path:
    """``root/cifar-10-batches-py`` with data_batch_1..N, test_batch and batches.meta (N x 32x32x3 input)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def batch(label: str, images: np.ndarray, labels: np.ndarray) -> dict:
        return {
            b"batch_label": label.encode(),
            b"labels": [int(x) for x in labels],
            b"data": cifar_rows(images),
            b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(labels))],
        }

    for i, (images, labels) in enumerate(train_batches, start=1):
        (folder / f"data_batch_{i}").write_bytes(py2_pickle(batch(f"training batch {i} of 5", images, labels)))
    (folder / "test_batch").write_bytes(py2_pickle(batch("testing batch 1 of 1", *test)))
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in label_names], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return folder


def write_cifar100(
    root: Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    fine_names: Sequence[str],
) -> Path:
    """``root/cifar-100-python`` with train, test and meta; coarse labels are fine // 5 as filler."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in (("train", train), ("test", test)):
        data = {
            b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(labels))],
            b"batch_label": f"{name}ing batch 1 of 1".encode(),
            b"fine_labels": [int(x) for x in labels],
            b"coarse_labels": [int(x) // 5 for x in labels],
            b"data": cifar_rows(images),
        }
        (folder / name).write_bytes(py2_pickle(data))
    meta = {b"fine_label_names": [n.encode() for n in fine_names], b"coarse_label_names": [b"coarse"]}
    (folder / "meta").write_bytes(py2_pickle(meta))
    return folder


# --- mini-ImageNet ------------------------------------------------------------------------------


def write_mini_imagenet(root: Path, splits: Mapping[str, Sequence[tuple[str, np.ndarray]]]) -> None:
    """``root/images/<wnid><index>.jpg`` (real JPEGs) and ``root/{train,val,test}.csv`` (``filename,label``).

    ``splits`` maps a split name to (wnid, image) pairs. JPEG is lossy: compare pixels with a tolerance
    (flat colours come back within a few levels).
    """
    counter = 0
    for split, rows in splits.items():
        lines = ["filename,label"]
        for wnid, img in rows:
            counter += 1
            name = f"{wnid}{counter:08d}.jpg"
            write_image(root / "images" / name, img)
            lines.append(f"{name},{wnid}")
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
