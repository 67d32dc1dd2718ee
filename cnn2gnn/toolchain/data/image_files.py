"""A dataset listed, not decoded: each split's image files and labels, for the streaming path.

The file loaders (``imagefolder:``, ``mini-imagenet:``) list first and decode second, so a listing
splits exactly as the in-memory dataset does. Listing reads each file's header (PNG/JPEG) for its
size and gray/colour layout, so the channel count and the tiny-image check need no decoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import IMAGE_DECODING, common_channels, image_layout, read_images, to_channels
from cnn2gnn.toolchain.data.dataset import SPLITS, RawDataset, RawSplit


@dataclass
class FileSplit:
    """Image file paths and labels; ``sizes`` (N, 2) holds each image's height and width once listed.

    Paths are a numpy string array, not Path objects: DataLoader workers are forked, and touching the
    reference counts of millions of Python objects would copy their memory pages into every worker.
    """

    paths: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))

    def __post_init__(self) -> None:
        self.paths = np.asarray([str(p) for p in self.paths], dtype=str)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.paths) != len(self.labels):
            raise Cnn2GnnError(f"{len(self.paths)} image files but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "FileSplit":
        idx = np.asarray(indices, dtype=np.int64)
        return FileSplit(self.paths[idx], self.labels[idx], self.sizes[idx] if len(self.sizes) else self.sizes)


@dataclass
class FileDataset(RawDataset):
    """A :class:`RawDataset` whose splits are :class:`FileSplit` listings (every label check applies).

    Its fingerprint hashes each file's path, label, size and modification time, not the pixels: hashing
    the content would decode the whole dataset, which the streaming path exists to avoid."""

    root: Path = Path(".")

    def fingerprint(self) -> str:
        splits = {name: getattr(self, name) for name in SPLITS if getattr(self, name) is not None}
        return listing_fingerprint(self.spec, self.class_names, splits, self.root)


def listing_fingerprint(spec: str, class_names: Sequence[str], splits: Mapping[str, FileSplit], root: Path) -> str:
    """A hash of the decoder's version and every listed file's path (relative to ``root``), label, size and
    modification time: cheap, and it moves when the data does."""
    digest = hashlib.sha256(f"files\x00{IMAGE_DECODING}\x00".encode() + "\x00".join(class_names).encode())
    for name in SPLITS:
        split = splits.get(name)
        if split is None:
            continue
        digest.update(name.encode())
        for path, label in zip(split.paths, split.labels):
            try:
                stat = Path(path).stat()
            except FileNotFoundError:
                raise Cnn2GnnError(f"{path} was listed in --data {spec} but is gone now (deleted while the dataset "
                                   "was being read); run again once the data stops changing") from None
            rel = Path(path).relative_to(root) if Path(path).is_relative_to(root) else Path(path)
            digest.update(f"{rel}\x00{label}\x00{stat.st_size}\x00{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def listed_dataset(spec: str, root: Path, class_names: list[str], splits: dict[str, FileSplit]) -> FileDataset:
    """Read every file's header for its size and layout; one colour image makes the dataset RGB."""
    channels = 1
    for split in splits.values():
        layouts = [image_layout(Path(p)) for p in split.paths]
        split.sizes = np.asarray([(h, w) for h, w, _ in layouts], dtype=np.int64).reshape(-1, 2)
        channels = max([channels, *(c for _, _, c in layouts)])
    return FileDataset(spec, class_names, channels, splits["train"], splits["val"], splits.get("test"), root=root)


def decoded_dataset(spec: str, class_names: list[str], splits: dict[str, FileSplit]) -> RawDataset:
    """Every image decoded, as the in-memory loaders return them (channels from the decoded pixels)."""
    images = {name: read_images([Path(p) for p in split.paths]) for name, split in splits.items()}
    channels = common_channels(img for imgs in images.values() for img in imgs)
    raw = {name: RawSplit(to_channels(images[name], channels), split.labels) for name, split in splits.items()}
    return RawDataset(spec, class_names, channels, raw["train"], raw["val"], raw.get("test"))
