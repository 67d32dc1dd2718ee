"""Raw images -> preprocessed torch tensors (the in-memory split), and the light augmentation used for training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images
from cnn2gnn.toolchain.data.dataset import RawSplit

AUGMENTATIONS = ("none", "shift", "shift-flip")


@dataclass
class TensorSplit:
    x: Tensor  # (N, C, H, W) float32, preprocessed
    y: Tensor  # (N,) int64
    ids: Tensor  # (N,) int64: index of each sample in its split (anchors refer to train ids)

    def __len__(self) -> int:
        return len(self.y)

    def images_at(self, indices: Tensor) -> Tensor:
        """The ``ImageSplit`` protocol (``image_split``), which the streamed split shares."""
        return self.x[indices]


def tensors_from_split(split: RawSplit, spec: Preprocessing) -> TensorSplit:
    x = torch.from_numpy(preprocess_images(split.images, spec))
    return TensorSplit(x=x, y=torch.from_numpy(split.labels.copy()), ids=torch.arange(len(split), dtype=torch.long))


def augment_batch(x: Tensor, mode: str, generator: torch.Generator, max_shift_fraction: float = 0.125) -> Tensor:
    """Random translation by up to ``max_shift_fraction`` of the size (edge-replicated), optional h-flip."""
    if mode == "none":
        return x
    if mode not in AUGMENTATIONS:
        raise Cnn2GnnError(f"augmentation {mode!r} unknown; use one of {AUGMENTATIONS}")
    n, _, h, w = x.shape
    pad = max(1, int(round(max_shift_fraction * min(h, w))))
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, padded.shape[3])
    shifted = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    shifted = shifted.gather(3, cols)
    if mode == "shift-flip":
        flip = torch.rand(n, generator=generator) < 0.5
        shifted = torch.where(flip[:, None, None, None], shifted.flip(3), shifted)
    return shifted


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=num_classes)
