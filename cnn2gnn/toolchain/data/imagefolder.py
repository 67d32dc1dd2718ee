"""``imagefolder:PATH``: one directory of images per class, optionally already split.

Two layouts:

* split on disk: ``PATH/train/<class>/...``, ``PATH/val/<class>/...``, optional ``PATH/test/<class>/...``.
  Classes are the sorted union of the class directory names; a split may lack some classes.
  Without ``val`` the validation split is drawn from train (stratified, ``seed``).
* unsplit: ``PATH/<class>/...``, split three ways here (stratified, ``seed``).

Files are searched recursively inside each class directory; files without an image extension and
hidden directories (``.git``, ``.ipynb_checkpoints``) are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import IMAGE_EXTENSIONS, is_image_file
from cnn2gnn.toolchain.data.dataset import RawDataset, split_three_ways
from cnn2gnn.toolchain.data.image_files import FileDataset, FileSplit, decoded_dataset, listed_dataset


def class_dirs(root: Path) -> dict[str, Path]:
    """Class name -> directory, sorted by name; hidden directories are not classes."""
    dirs = {d.name: d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    if not dirs:
        raise Cnn2GnnError(f"{root} has no class directories; expected {root}/<class>/<image files>")
    return dirs


def image_files(class_dir: Path) -> list[Path]:
    """The image files under ``class_dir`` (recursively), sorted; an empty class is an error."""
    files = sorted(p for p in class_dir.rglob("*") if is_image_file(p))
    if not files:
        raise Cnn2GnnError(
            f"empty class: {class_dir} holds no images (extensions {', '.join(sorted(IMAGE_EXTENSIONS))}); "
            "add images or remove the directory"
        )
    return files


def list_split(root: Path, class_index: dict[str, int]) -> tuple[list[Path], np.ndarray]:
    """Every image file of the split at ``root`` and its label, class by class."""
    files: list[Path] = []
    labels: list[int] = []
    for name, class_dir in class_dirs(root).items():
        class_files = image_files(class_dir)
        files += class_files
        labels += [class_index[name]] * len(class_files)
    return files, np.asarray(labels, dtype=np.int64)


def split_roots(path: Path) -> dict[str, Path] | None:
    """The split directories (train, val, optional test) of the split-on-disk layout; None when unsplit."""
    train_root = path / "train"
    # A class literally named "train" holds images, not class directories: that is the unsplit layout.
    if not (train_root.is_dir() and any(d.is_dir() for d in train_root.iterdir())):
        return None
    return {name: path / name for name in ("train", "val", "test") if (path / name).is_dir()}


def _listed_splits(spec: str, path: Path, seed: int, val_fraction: float,
                   test_fraction: float) -> tuple[list[str], dict[str, FileSplit]]:
    """Class names and each split's files. Splits missing on disk are drawn here: ``split_three_ways``
    looks at the labels alone, so a listing splits as its decoded images would."""
    if not path.is_dir():
        raise Cnn2GnnError(f"{path} is not a directory (from --data {spec})")
    roots = split_roots(path)
    if roots is None:
        class_names = list(class_dirs(path))
        everything = FileSplit(*list_split(path, {name: i for i, name in enumerate(class_names)}))
        train, val, test = split_three_ways(everything, val_fraction, test_fraction, seed)
        return class_names, {"train": train, "val": val, "test": test}
    class_names = sorted(set().union(*(class_dirs(r) for r in roots.values())))
    class_index = {name: i for i, name in enumerate(class_names)}
    splits = {name: FileSplit(*list_split(root, class_index)) for name, root in roots.items()}
    if "val" not in splits:
        splits["train"], splits["val"], _ = split_three_ways(splits["train"], val_fraction, 0.0, seed)
    return class_names, splits


def load_imagefolder(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    return decoded_dataset(spec, *_listed_splits(spec, path, seed, val_fraction, test_fraction))


def list_imagefolder(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> FileDataset:
    """The same splits as :func:`load_imagefolder`, listed and not decoded (the streaming path)."""
    return listed_dataset(spec, path, *_listed_splits(spec, path, seed, val_fraction, test_fraction))
