"""``imagefolder:PATH``: one directory of images per class, optionally already split.

Two layouts:

* split on disk: ``PATH/train/<class>/...``, ``PATH/val/<class>/...``, optional ``PATH/test/<class>/...``.
  The split folders may also be spelled ``training``, ``valid`` / ``validation`` and ``testing``, in any case
  (Kaggle and Roboflow exports). Classes are the sorted union of the class directory names; a split may lack
  some classes. Without a validation folder the validation split is drawn from train (stratified, ``seed``).
  Any other folder beside the split folders is refused: it would be neither trained nor tested on.
* unsplit: ``PATH/<class>/...``, split three ways here (stratified, ``seed``).

Files are searched recursively inside each class directory, following symbolic links; files without an
image extension, hidden files and directories (``.git``, ``.ipynb_checkpoints``, ``._x.png``) and ``__MACOSX``
are ignored. An image outside any class directory, a link to nothing and a link to a folder above the class are
refused, not skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import IMAGE_EXTENSIONS, is_hidden_or_tool_name, is_image_file
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
    error. A link to a folder holding ``class_dir`` would walk other classes' images into this one: refused."""
    files: list[Path] = []
    visited: set[tuple[int, int]] = set()  # (device, inode): the same folder under two spellings counts once
    above = {(s.st_dev, s.st_ino) for s in (os.stat(p) for p in class_dir.resolve().parents)}
    for folder, subfolders, names in os.walk(class_dir, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in visited:  # reached again through another link: its images count once
            subfolders.clear()
            continue
        visited.add((stat.st_dev, stat.st_ino))
        subfolders[:] = [d for d in subfolders if not is_hidden_or_tool_name(d)]
        for link in (Path(folder) / sub for sub in subfolders):
            target = os.stat(link) if link.is_symlink() else None  # plain folders: no second stat per folder
            if target is not None and (target.st_dev, target.st_ino) in above:
                raise Cnn2GnnError(f"{link} links to {os.readlink(link)!r}, a folder above the class {class_dir.name}: "
                                   "other classes' images would be counted as this class's; remove the link")
        for name in (n for n in names if not is_hidden_or_tool_name(n)):
            path = Path(folder) / name
            if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():  # one stat per image
                files.append(path)
            elif path.is_symlink() and not path.exists():  # os.walk lists a link to nothing among the files
                _refuse_dead_link(path)
    files.sort()
    if not files:
        raise Cnn2GnnError(
            f"empty class: {class_dir} holds no images (extensions {', '.join(sorted(IMAGE_EXTENSIONS))}); "
            "add images or remove the directory"
        )
    return files


def _refuse_dead_link(path: Path) -> None:
    raise Cnn2GnnError(f"{path} is a link to nothing ({os.readlink(path)!r}); fix or remove it")


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
    return [d for d in sorted(root.iterdir()) if d.is_dir() and not is_hidden_or_tool_name(d.name)]


def refuse_loose_images(root: Path, where: str) -> None:
    """An image directly in ``root`` (beside class directories), or a link to nothing where a class folder or
    image would be, would silently be left out: refuse it."""
    entries = [p for p in sorted(root.iterdir()) if not is_hidden_or_tool_name(p.name)]
    dead = next((p for p in entries if p.is_symlink() and not p.exists()), None)
    if dead is not None:
        _refuse_dead_link(dead)
    loose = [p.name for p in entries if is_image_file(p)]
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
        splits = ", ".join(r.name for r in roots.values())
        are = "is a split folder" if len(roots) == 1 else "are split folders"
        raise Cnn2GnnError(
            f"{path} holds {splits} and also {', '.join(others)}, which no split would read. If {splits} {are}, move "
            f"{', '.join(others)} into them (as <split>/<class>/) or remove them; if every folder there is a class "
            "(one of them named like a split and holding subfolders), rename that class's folder")
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
    for root in (path, *roots.values()):
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
