"""``cifar10:PATH`` / ``cifar100:PATH``: the "python version" archives exactly as distributed.

PATH is the extracted ``cifar-10-batches-py`` / ``cifar-100-python`` folder or the folder holding it.
Each batch is a pickled dict with bytes keys: ``b'data'`` (N x 3072 uint8, the R, G and B 32x32
planes one after another) and ``b'labels'`` (CIFAR-10) or ``b'fine_labels'`` (CIFAR-100). The
validation split is drawn from train (stratified, ``seed``); test is the archive's test batch.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Literal

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.dataset import RawDataset, RawSplit, split_three_ways

_LAYOUT = {
    # variant: (folder name, train files, test file, meta file, labels key, class names key)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        "batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels", b"fine_label_names"),
}


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # Python 3 protocol-2 pickles spell bytes this way
    }
    # The archives were pickled by numpy 1 under Python 2 (numpy.core); numpy 2 writes numpy._core.
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # pyright: ignore  # protocol-5 arrays
    return allowed


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickling runs whatever callables a file names, so a downloaded batch could run arbitrary
    code. This unpickler resolves only the few harmless callables that rebuild arrays and bytes,
    and refuses everything else.
    """

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not a numpy array part") from None


def _load_pickle(path: Path) -> dict:
    if not path.is_file():
        raise Cnn2GnnError(f"missing CIFAR file {path}; extract the python-version archive there unchanged")
    try:
        with path.open("rb") as f:
            obj = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except Exception as exc:  # any malformed pickle: truncated, refused global, bad opcode
        raise Cnn2GnnError(f"{path} is not a readable CIFAR pickle: {exc}") from exc
    if not isinstance(obj, dict):
        raise Cnn2GnnError(f"wrong pickle layout: {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def _load_batch(path: Path, labels_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _load_pickle(path)
    if b"data" not in batch or labels_key not in batch:
        raise Cnn2GnnError(
            f"wrong pickle layout: {path} has keys {sorted(batch, key=repr)}, expected b'data' and {labels_key!r}"
        )
    data = np.asarray(batch[b"data"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise Cnn2GnnError(f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 N x 3072")
    try:
        labels = np.asarray(batch[labels_key])
    except (TypeError, ValueError) as exc:  # ragged nesting
        raise Cnn2GnnError(f"{path}: {labels_key!r} is not a list of integer labels ({exc})") from exc
    if labels.size and labels.dtype.kind not in "iu":  # floats would be truncated, bytes or objects are no labels
        raise Cnn2GnnError(f"{path}: {labels_key!r} holds {labels.dtype} values, expected integer labels")
    labels = labels.astype(np.int64)
    if labels.shape != (len(data),):
        raise Cnn2GnnError(f"{path}: {len(data)} images but {labels.size} labels")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise Cnn2GnnError(f"{path}: label {labels[bad][0]} is outside 0..{num_classes - 1}")
    # Planes R, G, B of 32x32 each -> HxWx3.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _class_names(names: object, path: Path, names_key: bytes) -> list[str]:
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
        raise Cnn2GnnError(f"{path}: {names_key!r} is {type(names).__name__}, expected a list of class names")
    if not names:  # else every label would be reported as outside the range 0..-1
        raise Cnn2GnnError(f"{path}: {names_key!r} is an empty list, expected one class name per class; extract the "
                           "python-version archive there unchanged")
    try:
        return [n.decode() if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as exc:
        raise Cnn2GnnError(f"{path}: a class name in {names_key!r} is not UTF-8 ({exc})") from exc


def _read_split(files: list[Path], labels_key: bytes, num_classes: int) -> RawSplit:
    batches = [_load_batch(f, labels_key, num_classes) for f in files]
    images = np.ascontiguousarray(np.concatenate([b[0] for b in batches]))
    return RawSplit(list(images), np.concatenate([b[1] for b in batches]))


def load_cifar(
    spec: str,
    path: Path,
    *,
    variant: Literal["cifar10", "cifar100"],
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> RawDataset:
    """Load a CIFAR archive; ``test_fraction`` is unused because the archive has its own test batch."""
    folder, train_files, test_file, meta_file, labels_key, names_key = _LAYOUT[variant]
    root = path / folder if (path / folder).is_dir() else path
    meta = _load_pickle(root / meta_file)
    if names_key not in meta:
        raise Cnn2GnnError(
            f"wrong pickle layout: {root / meta_file} has keys {sorted(meta, key=repr)}, expected {names_key!r}"
        )
    class_names = _class_names(meta[names_key], root / meta_file, names_key)
    full_train = _read_split([root / f for f in train_files], labels_key, len(class_names))
    test = _read_split([root / test_file], labels_key, len(class_names))
    train, val, _ = split_three_ways(full_train, val_fraction, 0.0, seed)
    return RawDataset(spec, class_names, 3, train, val, test)
