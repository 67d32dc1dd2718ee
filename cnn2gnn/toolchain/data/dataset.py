"""In-memory image datasets as every loader returns them: raw uint8 images, labels, class names."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

SPLITS = ("train", "val", "test")
# Fractions of an unsplit dataset drawn for validation and test; training never passes others, so
# anything that must re-draw a run's split (calibration) reads these.
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.2


@dataclass
class RawSplit:
    """Images as uint8 HxW or HxWxC arrays (RGB order for colour) and int64 labels."""

    images: list[np.ndarray]
    labels: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise Cnn2GnnError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "RawSplit":
        idx = np.asarray(indices, dtype=np.int64)
        return RawSplit([self.images[i] for i in idx], self.labels[idx])


@dataclass
class RawDataset:
    """A dataset split three ways. ``spec`` is the ``--data`` string that produced it."""

    spec: str
    class_names: list[str]
    channels: int
    train: RawSplit
    val: RawSplit
    test: RawSplit | None = None

    def __post_init__(self) -> None:
        n = len(self.class_names)
        for name in SPLITS:
            split = getattr(self, name)
            if split is None:
                continue
            if len(split) and (split.labels.min() < 0 or split.labels.max() >= n):
                bad = int(split.labels[(split.labels < 0) | (split.labels >= n)][0])
                raise Cnn2GnnError(
                    f"{self.spec}: {name} split has label {bad}, outside 0..{n - 1} for {n} classes"
                )
        duplicated = next((c for i, c in enumerate(self.class_names) if c in self.class_names[:i]), None)
        if duplicated is not None:
            raise Cnn2GnnError(
                f"{self.spec}: the class name {duplicated!r} appears twice in its class list; each class needs a "
                "name of its own: fix the dataset's class names"
            )
        if len(self.train):
            self._require_classes_seen_in_training()

    def _require_classes_seen_in_training(self) -> None:
        """A val or test class without one training image can never be predicted: the splits do not belong together."""
        trained = set(self.train.labels.tolist())
        for name in SPLITS[1:]:
            split = getattr(self, name)
            unseen = sorted(set(split.labels.tolist()) - trained) if split is not None else []
            if unseen:
                shown = ", ".join(repr(self.class_names[c]) for c in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
                raise Cnn2GnnError(
                    f"{self.spec}: the {name} split has {len(unseen)} class(es) the train split never shows ({shown}); "
                    f"labels per split: {self.label_ranges()}. A model cannot learn them: check that the splits "
                    "come from one dataset"
                )

    def label_ranges(self) -> str:
        """``train 0..9 (10 distinct), val ...``: which classes each split holds, by name, for messages."""
        parts = []
        for name in SPLITS:
            split = getattr(self, name)
            if split is not None and len(split):
                parts.append(f"{name} {self.class_names[split.labels.min()]}..{self.class_names[split.labels.max()]} "
                             f"({len(np.unique(split.labels))} distinct)")
        return ", ".join(parts)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> RawSplit:
        if name not in SPLITS:
            raise Cnn2GnnError(f"unknown split {name!r}; use one of {SPLITS}")
        split = getattr(self, name)
        if split is None:
            raise Cnn2GnnError(f"{self.spec} has no {name!r} split; use 'val' or give the dataset a test split")
        return split

    def fingerprint(self) -> str:
        """A content hash of every image and label: a cache keyed on it goes stale when the data changes."""
        digest = hashlib.sha256()
        digest.update("\x00".join(self.class_names).encode())
        for name in SPLITS:
            split = getattr(self, name)
            if split is None:
                continue
            digest.update(name.encode())
            digest.update(split.labels.tobytes())
            for img in split.images:
                digest.update(str(img.shape).encode())
                digest.update(np.ascontiguousarray(img).tobytes())
        return digest.hexdigest()


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Split indices so every class is spread over the parts in the given fractions, reproducibly.

    The last part takes what the rounding leaves; each part's indices come back sorted.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        start = 0
        for p, frac in enumerate(fractions):
            if p == len(fractions) - 1:
                stop = len(idx)
            else:
                stop = start + int(round(frac * len(idx)))
            parts[p].extend(idx[start:stop].tolist())
            start = stop
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def split_three_ways(
    split: RawSplit, val_fraction: float, test_fraction: float, seed: int
) -> tuple[RawSplit, RawSplit, RawSplit]:
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise Cnn2GnnError(
            f"val fraction {val_fraction} and test fraction {test_fraction} must be in (0, 1) and sum below 1"
        )
    train_f = 1.0 - val_fraction - test_fraction
    # The small parts are drawn first so their sizes round as asked; train takes the remainder.
    val_idx, test_idx, train_idx = stratified_split(split.labels, [val_fraction, test_fraction, train_f], seed)
    return split.subset(train_idx), split.subset(val_idx), split.subset(test_idx)
