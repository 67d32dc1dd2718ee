"""The embedded default dataset: scikit-learn's bundled 8x8 handwritten digits (no download)."""

from __future__ import annotations

import numpy as np

from cnn2gnn.contracts.lazy_import import lazy_import
from cnn2gnn.toolchain.data.dataset import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    RawDataset,
    RawSplit,
    split_three_ways,
)


def load_digits_dataset(spec: str = "digits", *, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION,
                        test_fraction: float = DEFAULT_TEST_FRACTION) -> RawDataset:
    datasets = lazy_import("sklearn.datasets", "pip install scikit-learn", what="the 'digits' dataset")
    bunch = datasets.load_digits()
    # Pixel values are 0..16; scale to the uint8 range every other loader returns.
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    full = RawSplit(list(images), bunch.target.astype(np.int64))
    train, val, test = split_three_ways(full, val_fraction, test_fraction, seed)
    return RawDataset(
        spec=spec,
        class_names=[str(int(n)) for n in bunch.target_names],
        channels=1,
        train=train,
        val=val,
        test=test,
    )
