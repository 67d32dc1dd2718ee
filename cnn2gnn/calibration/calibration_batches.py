"""Fixed-size batches over a saved calibration set, as TensorRT's implicit-INT8 calibrator wants them.

Every batch has exactly ``batch_size`` samples (the calibration profile's shape is fixed), so the last
partial batch is DROPPED rather than padded: padding would repeat samples and bias the activation
histograms the entropy calibrator builds. At most ``batch_size - 1`` samples go unused, and
:attr:`CalibrationBatches.num_samples_dropped` reports how many.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError


class CalibrationBatches:
    def __init__(self, tensors: np.ndarray, batch_size: int, source: str = "calibration set") -> None:
        if batch_size < 1:
            raise Cnn2GnnError(f"calibration batch size must be at least 1, got {batch_size}")
        if tensors.ndim != 4:
            raise Cnn2GnnError(f"{source}: expected preprocessed images (N, C, H, W), got shape {tensors.shape}")
        if tensors.dtype != np.float32:
            raise Cnn2GnnError(
                f"{source}: expected float32 tensors, got {tensors.dtype}; save it with `cnn2gnn calibrate`"
            )
        if tensors.shape[0] < batch_size:
            raise Cnn2GnnError(
                f"{source} has {tensors.shape[0]} samples, fewer than one calibration batch of {batch_size}; "
                "use a larger calibration set (hundreds of images) or a smaller --calibration-batch"
            )
        self.tensors = np.ascontiguousarray(tensors)
        self.batch_size = batch_size
        self.source = source

    @property
    def num_batches(self) -> int:
        return self.tensors.shape[0] // self.batch_size

    @property
    def num_samples_used(self) -> int:
        return self.num_batches * self.batch_size

    @property
    def num_samples_dropped(self) -> int:
        return self.tensors.shape[0] - self.num_samples_used

    @property
    def batch_shape(self) -> tuple[int, int, int, int]:
        _, c, h, w = self.tensors.shape
        return self.batch_size, int(c), int(h), int(w)

    @property
    def nbytes_per_batch(self) -> int:
        return int(np.prod(self.batch_shape)) * self.tensors.itemsize

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, self.num_samples_used, self.batch_size):
            yield self.tensors[start : start + self.batch_size]
