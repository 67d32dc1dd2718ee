"""The dataset a training run reads, held in memory or streamed from its files (``--stream``).

Small datasets are decoded once into float32 tensors (fastest per epoch); image-file datasets whose
tensors would exceed ``STREAM_THRESHOLD_BYTES`` are listed instead and decoded batch by batch
(``StreamingSplit``), so memory no longer grows with the dataset. Both give the same tensors.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data.dataset import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION, RawDataset
from cnn2gnn.toolchain.data.image_files import FileDataset
from cnn2gnn.toolchain.data.image_split import ImageSplit
from cnn2gnn.toolchain.data.spec import ClassNames, load_dataset, parse_data_spec, renamed_classes
from cnn2gnn.toolchain.data.training_checks import decoded_bytes, require_trainable

STREAM_MODES = ("auto", "on", "off")
STREAM_THRESHOLD_BYTES = 1 << 30  # --stream auto streams above 1 GiB of float32 train + val tensors


def _list_files(name: str, spec: str, path: Path, seed: int) -> FileDataset | None:
    """The loaders that read image files, listed without decoding; None for the others (digits, cifar, idx)."""
    kw = {"seed": seed, "val_fraction": DEFAULT_VAL_FRACTION, "test_fraction": DEFAULT_TEST_FRACTION}
    if name == "imagefolder":
        from cnn2gnn.toolchain.data.imagefolder import list_imagefolder

        return list_imagefolder(spec, path, **kw)
    if name == "mini-imagenet":
        from cnn2gnn.toolchain.data.mini_imagenet import list_mini_imagenet

        return list_mini_imagenet(spec, path, **kw)
    return None


@dataclass
class TrainingData:
    dataset: RawDataset  # a FileDataset (files listed, not decoded) when streamed
    preprocessing: Preprocessing
    streamed: bool
    reason: str  # which path was chosen and why, for the log

    def split(self, name: str) -> ImageSplit:
        part = self.dataset.split(name)
        if self.streamed:
            from cnn2gnn.toolchain.data.streaming import StreamingSplit

            return StreamingSplit(part, self.preprocessing, self.dataset.channels)
        from cnn2gnn.toolchain.data.tensors import tensors_from_split

        return tensors_from_split(part, self.preprocessing)


def training_data(spec: str, seed: int, preprocessing: Callable[[int], Preprocessing], stream: str = "auto",
                  workers: int = 0, class_names: ClassNames = None, log: bool = True) -> TrainingData:
    """Load or list ``spec`` (split with ``seed``; ``class_names`` as in ``load_dataset``), make its
    preprocessing from the dataset's channel count, check it is trainable and choose the path: ``stream``
    on | off | auto (on above the threshold, for image files). ``log`` prints the choice and its reason to
    stderr (rank 0 of a distributed run)."""
    if stream not in STREAM_MODES:
        raise Cnn2GnnError(f"--stream must be one of {' | '.join(STREAM_MODES)}, got {stream!r}")
    name, path = parse_data_spec(spec)
    files = _list_files(name, spec, Path(path or ""), seed) if stream != "off" else None
    if files is None:
        if stream == "on":
            raise Cnn2GnnError(f"--stream on: {spec} is not read from image files (only imagefolder: and "
                               "mini-imagenet: are); use --stream auto or off")
        dataset = load_dataset(spec, seed=seed, class_names=class_names)
        pre = preprocessing(dataset.channels)
        why = "--stream off" if stream == "off" else f"{name} is not read from image files"
        result = TrainingData(dataset, pre, False, f"in memory ({why})")
    else:
        pre = preprocessing(files.channels)
        size = decoded_bytes(len(files.train) + len(files.val), pre)
        above = size > STREAM_THRESHOLD_BYTES
        gib = f"{len(files.train) + len(files.val)} train + val images take {_size(size)} as float32"
        threshold = f"the {_size(STREAM_THRESHOLD_BYTES)} --stream auto threshold"
        if stream == "on" or above:
            why = "--stream on" if stream == "on" else f"{gib}, above {threshold}"
            reason = f"streamed from the image files, {workers or 'no'} worker processes decoding ({why})"
            if class_names is not None:
                files = replace(files, class_names=renamed_classes(spec, files.class_names, class_names))
            result = TrainingData(files, pre, True, reason)
        else:
            result = TrainingData(load_dataset(spec, seed=seed, class_names=class_names), pre, False,
                                  f"in memory ({gib}, within {threshold})")
    require_trainable(result.dataset, result.preprocessing, in_memory=not result.streamed)
    if log:
        print(f"data: {spec} {result.reason}", file=sys.stderr)
    return result


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"
