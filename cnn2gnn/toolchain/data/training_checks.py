"""What training demands of a dataset beyond loading: checked before any tensor is made or weight trained.

A loadable dataset can still be garbage to train on: one class (100% validation accuracy, learns
nothing), no validation images (accuracy NaN), images of a pixel or two blown up to the model size,
or tensors that would not fit in memory. Each is refused with the numbers that show why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data.dataset import RawDataset
from cnn2gnn.toolchain.data.image_files import FileSplit

# Below this many pixels a side an image holds no pattern a model could learn from.
MIN_IMAGE_SIDE = 4
MEMINFO = Path("/proc/meminfo")


def available_memory_bytes() -> int | None:
    """MemAvailable on Linux (free memory plus what the page cache would give back); None elsewhere."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def decoded_bytes(images: int, pre: Preprocessing) -> int:
    """Bytes ``images`` preprocessed images take as one float32 tensor (what the in-memory path holds)."""
    return images * int(np.prod(pre.input_shape)) * 4


def require_trainable(dataset: RawDataset, pre: Preprocessing, in_memory: bool = True) -> None:
    """``in_memory``: the splits will be decoded into tensors, which must fit (a streamed dataset need not)."""
    spec, train, val = dataset.spec, dataset.train, dataset.val
    if not len(train):
        raise Cnn2GnnError(f"{spec}: the train split is empty; there is nothing to train on")
    present = np.unique(train.labels)
    if len(present) < 2:
        raise Cnn2GnnError(
            f"{spec}: the train split holds one class only ({dataset.class_names[present[0]]!r}, {len(train)} "
            "images); a classifier needs at least 2 classes (imagefolder: one folder per class)"
        )
    if not len(val):
        raise Cnn2GnnError(
            f"{spec}: the validation split is empty ({len(train)} training images over {len(present)} classes): "
            "too few images per class to draw one for validation; add images (about 10 per class at least) "
            "or give the dataset a val split"
        )
    # A listed dataset knows its sizes from the file headers; a decoded one from its pixels.
    sizes = train.sizes if isinstance(train, FileSplit) else np.array([img.shape[:2] for img in train.images])
    smallest = int(np.argmin(sizes.min(axis=1)))
    if sizes[smallest].min() < MIN_IMAGE_SIDE:
        h, w = (int(v) for v in sizes[smallest])
        factor = max(pre.height / h, pre.width / w)
        image = train.paths[smallest] if isinstance(train, FileSplit) else smallest
        raise Cnn2GnnError(
            f"{spec}: training image {image} is {h}x{w} pixels; it would be upscaled {factor:g}x to "
            f"{pre.height}x{pre.width} and holds no detail to learn from. Images need at least "
            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels: remove the tiny images"
        )
    if not in_memory:
        return
    needed = decoded_bytes(len(train) + len(val), pre)  # float32 train + val tensors
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise Cnn2GnnError(
            f"{spec}: {len(train) + len(val)} images at {pre.channels}x{pre.height}x{pre.width} need "
            f"{needed / 2**30:.1f} GiB as float32 tensors, this machine has {available / 2**30:.1f} GiB available; "
            "use a smaller --image-size (or, for image files, --stream on or auto to decode them batch by batch)"
        )
