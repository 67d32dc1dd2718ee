"""The embedded default dataset: scikit-learn's bundled 8x8 handwritten digits (no download)."""

from __future__ import annotations

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.dataset import RawDataset, RawSplit, split_three_ways


def load_digits_dataset(spec: str = "digits", *, seed: int = 0, val_fraction: float = 0.1,
                        test_fraction: float = 0.2) -> RawDataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise Cnn2GnnError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
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
