"""``imagefolder:PATH``: one directory of images per class, optionally already split.

Two layouts:

* split on disk: ``PATH/train/<class>/...``, ``PATH/val/<class>/...``, optional ``PATH/test/<class>/...``.
  The split folders may also be spelled ``training``, ``valid`` / ``validation`` and ``testing``, in any case
  (Kaggle and Roboflow exports). Classes are the sorted union of the class directory names; a split may lack
  some classes. Without a validation folder the validation split is drawn from train (stratified, ``seed``).
  Any other folder beside the split folders is refused: it would be neither trained nor tested on.
* unsplit: ``PATH/<class>/...``, split three ways here (stratified, ``seed``).

Files are searched recursively inside each class directory, following symbolic links; files without an
image extension and hidden files and directories (``.git``, ``.ipynb_checkpoints``, ``._x.png``) are ignored.
An image outside any class directory and a link to nothing are refused, not skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import IMAGE_EXTENSIONS, is_image_file
from cnn2gnn.toolchain.data.dataset import RawDataset, split_three_ways
from cnn2gnn.toolchain.data.image_files import FileDataset, FileSplit, decoded_dataset, listed_dataset

# The split-on-disk layout's folder names (lower case) and the split each one is.
SPLIT_FOLDER_SPELLINGS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                          "test": "test", "testing": "test"}


def class_dirs(root: Path) -> dict[str, Path]:
    """Class name -> directory, sorted by name; hidden directories are not classes."""
    dirs = {d.name: d for d in _visible_dirs(root)}
    if not dirs:
        raise Cnn2GnnError(f"{root} has no class directories; expected {root}/<class>/<image files>")
    return dirs


def image_files(class_dir: Path) -> list[Path]:
    """The image files under ``class_dir`` (recursively, through linked folders), sorted; an empty class is an
    error."""
    files, visited = [], set()
    for folder, subfolders, names in os.walk(class_dir, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link back up the tree: each folder's images count once, and the walk ends
            subfolders.clear()
            continue
        visited.add(real)
        # hidden folders hold copies (.ipynb_checkpoints) or tool state (.git), not the class's images
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            if not path.exists():
                raise Cnn2GnnError(f"{path} is a link to nothing ({os.readlink(path)!r}); fix or remove it")
            if is_image_file(path):
                files.append(path)
    files.sort()
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


def _visible_dirs(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]


def refuse_loose_images(root: Path, where: str) -> None:
    """An image directly in ``root`` (beside class directories) would silently be left out: refuse it."""
    loose = [p.name for p in sorted(root.iterdir()) if not p.name.startswith(".") and is_image_file(p)]
    if loose:
        shown = ", ".join(loose[:3]) + (f" and {len(loose) - 3} more" if len(loose) > 3 else "")
        raise Cnn2GnnError(f"{root} holds images outside any class directory ({shown}); {where} expects "
                           f"{root}/<class>/<image files>: move them into their class's directory or remove them")


def split_roots(path: Path) -> dict[str, Path] | None:
    """The split directories (train, val, optional test) of the split-on-disk layout; None when unsplit."""
    found: dict[str, list[Path]] = {}
    for folder in _visible_dirs(path):
        split = SPLIT_FOLDER_SPELLINGS.get(folder.name.lower())
        if split is not None:
            found.setdefault(split, []).append(folder)
    # A class literally named "train" holds images, not class directories: that is the unsplit layout.
    if not any(_visible_dirs(train) for train in found.get("train", [])):
        return None
    for split, folders in found.items():
        if len(folders) > 1:
            raise Cnn2GnnError(f"{path} has {len(folders)} {split} folders ({', '.join(f.name for f in folders)}); "
                               "keep one of them")
    roots = {split: folders[0] for split, folders in found.items()}
    others = [d.name for d in _visible_dirs(path) if d not in roots.values()]
    if others:
        raise Cnn2GnnError(
            f"{path} is split on disk ({', '.join(r.name for r in roots.values())}) but also holds {', '.join(others)}, "
            "which no split would read; move each into a split folder (train/, val/ or test/, as <split>/<class>/) "
            "or remove it")
    return roots


def listed_splits(spec: str, path: Path, seed: int, val_fraction: float,
                   test_fraction: float) -> tuple[list[str], dict[str, FileSplit]]:
    """Class names and each split's files. Splits missing on disk are drawn here: ``split_three_ways``
    looks at the labels alone, so a listing splits as its decoded images would."""
    if not path.is_dir():
        raise Cnn2GnnError(f"{path} is not a directory (from --data {spec})")
    roots = split_roots(path)
    if roots is None:
        class_names = list(class_dirs(path))
        refuse_loose_images(path, f"--data {spec}")
        everything = FileSplit(*list_split(path, {name: i for i, name in enumerate(class_names)}))
        train, val, test = split_three_ways(everything, val_fraction, test_fraction, seed)
        return class_names, {"train": train, "val": val, "test": test}
    for root in roots.values():
        refuse_loose_images(root, f"--data {spec}")
    class_names = sorted(set().union(*(class_dirs(r) for r in roots.values())))
    class_index = {name: i for i, name in enumerate(class_names)}
    splits = {name: FileSplit(*list_split(root, class_index)) for name, root in roots.items()}
    if "val" not in splits:
        splits["train"], splits["val"], _ = split_three_ways(splits["train"], val_fraction, 0.0, seed)
    return class_names, splits


def load_imagefolder(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    return decoded_dataset(spec, *listed_splits(spec, path, seed, val_fraction, test_fraction))


def list_imagefolder(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> FileDataset:
    """The same splits as :func:`load_imagefolder`, listed and not decoded (the streaming path)."""
    return listed_dataset(spec, path, *listed_splits(spec, path, seed, val_fraction, test_fraction))
