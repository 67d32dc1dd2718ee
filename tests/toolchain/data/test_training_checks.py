"""What training refuses to start on: one class, no validation images, pixel-sized images, no memory."""

from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset, training_checks
from cnn2gnn.toolchain.data.dataset import RawDataset, RawSplit
from cnn2gnn.toolchain.data.training_checks import require_trainable
from tests.toolchain.data._writers import pattern_image, write_class_folders

PRE = Preprocessing(32, 32, 1)


def _dataset(labels: list[int], val_labels: list[int], side: int = 8) -> RawDataset:
    def split(ls: list[int]) -> RawSplit:
        return RawSplit([pattern_image(i, (side, side)) for i in range(len(ls))], np.array(ls))

    return RawDataset("test-data", ["a", "b"], 1, split(labels), split(val_labels))


def test_a_good_dataset_passes() -> None:
    require_trainable(_dataset([0, 1, 0, 1], [0, 1]), PRE)


def test_a_single_class_imagefolder_is_refused(tmp_path) -> None:
    pytest.importorskip("cv2")
    write_class_folders(tmp_path, {"only": [pattern_image(i, (8, 8)) for i in range(12)]})
    dataset = load_dataset(f"imagefolder:{tmp_path}")
    with pytest.raises(Cnn2GnnError, match=r"holds one class only \('only', 9 images\); a classifier needs at least 2"):
        require_trainable(dataset, PRE)


def test_an_empty_validation_split_is_refused() -> None:
    with pytest.raises(Cnn2GnnError, match=r"the validation split is empty \(4 training images over 2 classes\)"):
        require_trainable(_dataset([0, 1, 0, 1], []), PRE)


def test_an_empty_training_split_is_refused() -> None:
    with pytest.raises(Cnn2GnnError, match="the train split is empty"):
        require_trainable(RawDataset("test-data", ["a", "b"], 1, RawSplit([], np.array([])),
                                     RawSplit([pattern_image(0, (8, 8))], np.array([0]))), PRE)


def test_pixel_sized_images_are_refused_with_the_upscale_factor() -> None:
    with pytest.raises(Cnn2GnnError, match=r"training image 0 is 1x1 pixels; it would be upscaled 32x to 32x32"):
        require_trainable(_dataset([0, 1], [0, 1], side=1), PRE)


def test_tensors_larger_than_the_memory_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_checks, "available_memory_bytes", lambda: 2**30)
    big = Preprocessing(4096, 4096, 3, (0.5,) * 3, (0.5,) * 3)  # 6 images x 3x4096x4096 float32 = 1.1 GiB
    with pytest.raises(Cnn2GnnError, match=r"6 images at 3x4096x4096 need 1\.1 GiB .* 1\.0 GiB available; use a"):
        require_trainable(_dataset([0, 1, 0, 1], [0, 1]), big)
