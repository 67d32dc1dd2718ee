"""The images calibration and its report use: the model's own training split, decoded one by one.

Calibration images come from the TRAINING split and the report's accuracy from the VALIDATION
split, both drawn exactly as training drew them (same ``--data`` loader, same split seed), so no
test image ever tunes a quantisation range. Images are preprocessed with the model's metadata only.

``imagefolder:`` datasets are listed here rather than loaded whole: the loader stops at the first
file OpenCV cannot decode, while calibration skips such files, counts them and names them. The
split of the listing reuses the loader's own stratified split (on labels alone), so it is the split
training saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import preprocess_image

if TYPE_CHECKING:
    from cnn2gnn.toolchain.data.spec import ClassNames


@dataclass
class SplitImages:
    """One split: labels, a loader for image ``i`` (may raise Cnn2GnnError) and a name for it in messages."""

    labels: np.ndarray
    load: Callable[[int], np.ndarray]
    name: Callable[[int], str]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ImageSource:
    spec: str
    class_names: list[str]
    fingerprint: str
    splits: dict[str, SplitImages]
    # True: the same content hash training records (RawDataset.fingerprint); False: a file-listing hash.
    fingerprint_is_content: bool = True

    def split(self, name: str) -> SplitImages:
        if name not in self.splits:
            raise Cnn2GnnError(f"{self.spec} has no {name!r} split")
        return self.splits[name]


def _in_memory_source(spec: str, split_seed: int, class_names: ClassNames) -> ImageSource:
    from cnn2gnn.toolchain.data import load_dataset

    dataset = load_dataset(spec, seed=split_seed, class_names=class_names)
    splits = {}
    for split_name in ("train", "val", "test"):
        split = getattr(dataset, split_name)
        if split is None:
            continue
        splits[split_name] = SplitImages(
            labels=split.labels,
            load=lambda i, images=split.images: images[i],
            name=lambda i, s=split_name: f"{spec} {s}[{i}]",
        )
    return ImageSource(spec, list(dataset.class_names), dataset.fingerprint(), splits)


def _imagefolder_source(spec: str, root: Path, split_seed: int, names: ClassNames) -> ImageSource:
    from cnn2gnn.contracts.images import read_image
    from cnn2gnn.toolchain.data.dataset import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION
    from cnn2gnn.toolchain.data.image_files import listing_fingerprint
    from cnn2gnn.toolchain.data.imagefolder import listed_splits
    from cnn2gnn.toolchain.data.spec import renamed_classes

    # The loader's own listing and split (the fractions training used: it never passes others than the defaults).
    class_names, listed = listed_splits(spec, root, split_seed, DEFAULT_VAL_FRACTION, DEFAULT_TEST_FRACTION)
    splits = {
        name: SplitImages(
            labels=split.labels,
            load=lambda i, p=split.paths: read_image(Path(p[i])),
            name=lambda i, p=split.paths: str(p[i]),
        )
        for name, split in listed.items()
    }
    if names is not None:  # labels come from the folder names above; only the names reported change
        class_names = renamed_classes(spec, class_names, names)
    return ImageSource(spec, class_names, listing_fingerprint(spec, class_names, listed, root), splits,
                       fingerprint_is_content=False)


def image_source(spec: str, split_seed: int, class_names: ClassNames = None) -> ImageSource:
    """The dataset ``spec`` split with ``split_seed`` (the seed the model was trained with); ``class_names``
    (a names file, or the model's names) replaces its own class names."""
    from cnn2gnn.toolchain.data import parse_data_spec

    name, path = parse_data_spec(spec)
    if name == "imagefolder":
        return _imagefolder_source(spec, Path(path or ""), split_seed, class_names)
    return _in_memory_source(spec, split_seed, class_names)


def check_source_matches_model(source: ImageSource, metadata: ModelMetadata, model: str) -> None:
    """Refuse a dataset whose classes are not the model's: its labels would score the wrong outputs."""
    difference = class_list_difference(source.class_names, metadata.class_names)
    if difference is not None:
        raise Cnn2GnnError(
            f"--data {source.spec} does not have {model}'s classes (data vs model: {difference}): calibrate the "
            "model on the dataset it was trained on, with its --class-names file if it was trained with one"
        )


class PreprocessedImages:
    """Preprocess images of one split on demand with the model's preprocessing, remembering failures."""

    def __init__(self, split: SplitImages, metadata: ModelMetadata) -> None:
        self.split = split
        self.metadata = metadata
        self.tensors: dict[int, np.ndarray] = {}
        self.failed: dict[int, str] = {}

    def try_use(self, i: int) -> str | None:
        """Preprocess image ``i``: None on success, else why it cannot be used."""
        try:
            x = preprocess_image(self.split.load(i), self.metadata.preprocessing, input_order="RGB")
        except Cnn2GnnError as exc:
            self.failed[i] = str(exc)
            return str(exc)
        self.tensors[i] = x
        return None

    def batch(self, indices: np.ndarray) -> np.ndarray:
        if len(indices) == 0:
            return np.zeros((0, *self.metadata.preprocessing.input_shape), dtype=np.float32)
        return np.stack([self.tensors[int(i)] for i in indices])

    def failures(self) -> list[dict[str, Any]]:
        return [{"image": self.split.name(i), "error": why} for i, why in self.failed.items()]
