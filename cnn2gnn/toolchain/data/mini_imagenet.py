"""``mini-imagenet:PATH``: the Ravi & Larochelle layout, ``PATH/images/*.jpg`` plus split CSVs.

``PATH/train.csv``, ``PATH/val.csv`` and ``PATH/test.csv`` each start with the header
``filename,label``; a label is a WordNet id such as ``n01532829``.

The standard CSVs are a *few-shot* split: their classes are disjoint (64 / 16 / 20), so a classifier
trained on train.csv could never predict a val or test class. When the three class sets are
disjoint, every row is therefore pooled and split three ways here (stratified, ``seed``) over all
classes. When the classes overlap (a classification re-split), the CSVs are used as the splits.
Class names are the sorted union of the wnids. Images keep their size on disk.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.dataset import SPLITS, RawDataset, split_three_ways
from cnn2gnn.toolchain.data.image_files import FileDataset, FileSplit, decoded_dataset, listed_dataset

_HEADER = ["filename", "label"]


def _read_csv(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise Cnn2GnnError(f"missing mini-ImageNet split file {path}; expected train.csv, val.csv and test.csv")
    try:  # -sig: a CSV saved by Excel or a Windows editor starts with a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise Cnn2GnnError(f"{path} is not UTF-8 text ({exc}); save it as UTF-8 (CSV UTF-8)") from exc
    except csv.Error as exc:  # e.g. a stray '"' opens a quoted field that swallows the rest of the file
        raise Cnn2GnnError(f"{path} is not a readable CSV ({exc}); check it for an unclosed '\"' quote") from exc
    if not rows:
        raise Cnn2GnnError(f"{path} is empty; expected the header 'filename,label' and one row per image")
    if [c.strip() for c in rows[0]] != _HEADER:
        raise Cnn2GnnError(f"{path} has header {','.join(rows[0])!r}, expected 'filename,label'")
    if len(rows) == 1:
        raise Cnn2GnnError(f"{path} is empty: it has a header but no images")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not all(c.strip() for c in row):
            raise Cnn2GnnError(f"{path} line {line}: expected 'filename,label', got {','.join(row)!r}")
    return [(name.strip(), label.strip()) for name, label in rows[1:]]


def _refuse_listed_twice(path: Path, rows: dict[str, list[tuple[str, str]]]) -> None:
    """An image listed twice would be trained on twice, or tested on after training on it, or carry two labels."""
    first: dict[str, tuple[str, int, str]] = {}
    for split in SPLITS:
        for line, (name, label) in enumerate(rows[split], start=2):
            if name in first:
                where, at, was = first[name]
                labels = f" (labelled {was} there, {label} here)" if was != label else ""
                raise Cnn2GnnError(f"{path / f'{split}.csv'} line {line} lists {name}, which {where}.csv line {at} "
                                   f"already lists{labels}; each image belongs in one row of one split")
            first[name] = (split, line, label)


def _listed_splits(path: Path, seed: int, val_fraction: float,
                   test_fraction: float) -> tuple[list[str], dict[str, FileSplit]]:
    """Class names and each split's files; disjoint few-shot splits are pooled and re-split on the labels."""
    rows = {split: _read_csv(path / f"{split}.csv") for split in SPLITS}
    _refuse_listed_twice(path, rows)
    class_sets = [{label for _, label in rows[s]} for s in SPLITS]
    class_names = sorted(set().union(*class_sets))
    class_index = {name: i for i, name in enumerate(class_names)}

    image_paths = {s: [path / "images" / name for name, _ in rows[s]] for s in SPLITS}
    for s in SPLITS:
        missing = next((p for p in image_paths[s] if not p.is_file()), None)
        if missing is not None:
            raise Cnn2GnnError(f"missing image {missing}, listed in {path / f'{s}.csv'}")
    splits = {s: FileSplit(image_paths[s], [class_index[label] for _, label in rows[s]]) for s in SPLITS}

    disjoint = sum(len(c) for c in class_sets) == len(class_names)
    if disjoint:
        pooled = FileSplit(np.concatenate([splits[s].paths for s in SPLITS]),
                           np.concatenate([splits[s].labels for s in SPLITS]))
        splits["train"], splits["val"], splits["test"] = split_three_ways(pooled, val_fraction, test_fraction, seed)
    return class_names, splits


def load_mini_imagenet(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    return decoded_dataset(spec, *_listed_splits(path, seed, val_fraction, test_fraction))


def list_mini_imagenet(spec: str, path: Path, *, seed: int, val_fraction: float, test_fraction: float) -> FileDataset:
    """The same splits as :func:`load_mini_imagenet`, listed and not decoded (the streaming path)."""
    return listed_dataset(spec, path, *_listed_splits(path, seed, val_fraction, test_fraction))
