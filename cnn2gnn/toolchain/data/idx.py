"""``idx:PATH``: MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), gzipped or raw.

PATH holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each optionally ending in ``.gz``; other names are matched by their
parts (``*train*images*``, ``*test*labels*``, ...). The validation split is drawn from train
(stratified, ``seed``); test is the t10k/test pair. The classes are the label values that occur, so
EMNIST-letters' labels 1..26 make 26 classes, not 27 with an empty "0". Their names are the label values, or the
lines of ``classes.txt`` in PATH when it holds one (see ``class_names_file``): one name per class present, or one
per label value 0..the largest (then the names of absent labels go unused).
Images are returned as stored (EMNIST's are transposed relative to MNIST's).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.class_names_file import CLASS_NAMES_FILE, read_class_names
from cnn2gnn.toolchain.data.dataset import RawDataset, RawSplit, split_three_ways

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def _matches(name: str, split: str, kind: str) -> bool:
    name = name.lower()
    in_split = "train" in name if split == "train" else ("t10k" in name or "test" in name)
    is_kind = ("images" in name or "idx3" in name) if kind == "images" else ("labels" in name or "idx1" in name)
    return in_split and is_kind


def _find(root: Path, split: str, kind: str) -> Path:
    standard = f"{'train' if split == 'train' else 't10k'}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
    found: dict[str, list[Path]] = {}
    for p in sorted(root.iterdir()):
        if p.is_file() and _matches(p.name, split, kind):
            found.setdefault(p.name.removesuffix(".gz"), []).append(p)
    if not found:
        raise Cnn2GnnError(f"missing IDX file: no {standard}[.gz] (or similar {split} {kind} file) in {root}")
    if len(found) > 1:
        names = ", ".join(p.name for ps in found.values() for p in ps)
        raise Cnn2GnnError(
            f"several {split} {kind} files in {root}: {names}; point idx: at a folder holding one dataset"
        )
    # The same file both extracted and gzipped: the extracted one skips decompression.
    (candidates,) = found.values()
    return min(candidates, key=lambda p: p.suffix == ".gz")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:  # sniffed rather than trusting the name: renamed files are common
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise Cnn2GnnError(f"{path} is a corrupt gzip file: {exc}") from exc
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise Cnn2GnnError(
            f"{path} is not an IDX file (bad magic {raw[:4].hex() or 'empty'}, expected 000008{ndim:02x})"
        )
    if raw[2] != _UBYTE or raw[3] != ndim:
        raise Cnn2GnnError(
            f"{path}: IDX header says type 0x{raw[2]:02x} with {raw[3]} dimensions, expected unsigned bytes (0x08) "
            f"with {ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise Cnn2GnnError(f"{path} is truncated: the file ends inside its header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        problem = "is truncated" if len(raw) < expected else "has trailing bytes"
        raise Cnn2GnnError(f"{path} {problem}: dimensions {dims} need {expected} bytes, the file has {len(raw)}")
    # A copy, because arrays over the bytes object would be read-only unlike every other loader's.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _read_pair(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = _find(root, split, "images"), _find(root, split, "labels")
    images, labels = _read_idx(images_path, 3), _read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise Cnn2GnnError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    return images, labels.astype(np.int64)


def load_idx(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    """Load an IDX dataset; ``test_fraction`` is unused because the files hold their own test set."""
    if not path.is_dir():
        raise Cnn2GnnError(f"{path} is not a directory of IDX files (from --data {spec})")
    train_images, train_labels = _read_pair(path, "train")
    test_images, test_labels = _read_pair(path, "test")
    # A class no image shows would be an output no image can teach: the classes are the label values present.
    present = np.union1d(train_labels, test_labels)
    class_names = [str(v) for v in present]
    names_file = path / CLASS_NAMES_FILE
    if names_file.is_file():
        by_value = int(present.max(initial=0)) + 1  # a file naming every label value 0..max, as MNIST-style sets ship
        shown = ", ".join(class_names[:5]) + (", ..." if len(present) > 5 else "")
        names = read_class_names(names_file, (len(present), by_value),
                                 f"{len(present)} classes (the labels {shown}); name each of them, or each label value "
                                 f"0..{by_value - 1} ({by_value} names)")
        class_names = names if len(names) == len(present) else [names[v] for v in present]
    train_labels, test_labels = np.searchsorted(present, train_labels), np.searchsorted(present, test_labels)
    train, val, _ = split_three_ways(RawSplit(list(train_images), train_labels), val_fraction, 0.0, seed)
    return RawDataset(
        spec,
        class_names=class_names,
        channels=1,
        train=train,
        val=val,
        test=RawSplit(list(test_images), test_labels),
    )
