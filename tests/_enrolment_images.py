"""Image folders for enrolment tests: real digits written as PNG files, as a user's folder would hold them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def digits_dataset() -> Any:
    from cnn2gnn.toolchain.data import load_dataset

    return load_dataset("digits", seed=0)


def write_images(folder: Path, images: list[np.ndarray]) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
    return folder


def write_training_images_of(digit: int, folder: Path, count: int = 20) -> Path:
    """The first ``count`` training images of ``digit``."""
    train = digits_dataset().train
    return write_images(folder, [train.images[i] for i in np.where(train.labels == digit)[0][:count]])
