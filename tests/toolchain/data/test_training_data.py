"""--stream: which path a run takes (in memory or streamed), why, and what it logs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import training_data as training_data_module
from cnn2gnn.toolchain.data.image_files import FileDataset
from cnn2gnn.toolchain.data.streaming import StreamingSplit
from cnn2gnn.toolchain.data.tensors import TensorSplit
from cnn2gnn.toolchain.data.training_data import training_data
from tests.toolchain.data.test_streaming import mixed_folder

pytest.importorskip("cv2")


def _pre(channels: int) -> Preprocessing:
    return Preprocessing.default_for(channels, 16)


def test_auto_keeps_a_small_folder_in_memory_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = mixed_folder(tmp_path)
    data = training_data(spec, 0, _pre, "auto")
    assert not data.streamed and isinstance(data.split("train"), TensorSplit)
    # 21 train + 3 val images at 3x16x16 float32 = 73728 bytes
    assert capsys.readouterr().err == (f"data: {spec} in memory (24 train + val images take 0.1 MiB as float32, "
                                       "within the 1.0 GiB --stream auto threshold)\n")


def test_auto_streams_above_the_threshold_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = mixed_folder(tmp_path)
    monkeypatch.setattr(training_data_module, "STREAM_THRESHOLD_BYTES", 73_727)  # one byte below the 73728
    data = training_data(spec, 0, _pre, "auto", workers=3)
    assert data.streamed and isinstance(data.dataset, FileDataset) and isinstance(data.split("val"), StreamingSplit)
    err = capsys.readouterr().err
    assert err == (f"data: {spec} streamed from the image files, 3 worker processes decoding (24 train + val "
                   "images take 0.1 MiB as float32, above the 0.1 MiB --stream auto threshold)\n")
    assert data.preprocessing.channels == 3  # the listing's channel count made the preprocessing


def test_on_and_off_force_the_path_and_give_the_same_images(tmp_path: Path) -> None:
    spec = mixed_folder(tmp_path)
    on, off = training_data(spec, 0, _pre, "on", log=False), training_data(spec, 0, _pre, "off", log=False)
    assert on.streamed and not off.streamed and "--stream on" in on.reason and "--stream off" in off.reason
    assert on.dataset.class_names == off.dataset.class_names
    idx = torch.arange(len(off.split("train")))
    assert torch.equal(on.split("train").images_at(idx), off.split("train").images_at(idx))


def test_stream_on_is_refused_for_data_not_read_from_files() -> None:
    with pytest.raises(Cnn2GnnError, match=r"--stream on: digits is not read from image files .* use --stream auto"):
        training_data("digits", 0, _pre, "on")


def test_a_dataset_not_read_from_files_is_in_memory_with_its_reason(capsys: pytest.CaptureFixture) -> None:
    assert not training_data("digits", 0, _pre, "auto").streamed
    assert capsys.readouterr().err == "data: digits in memory (digits is not read from image files)\n"


def test_a_streamed_dataset_is_checked_like_an_in_memory_one(tmp_path: Path) -> None:
    from tests.toolchain.data._writers import pattern_image, write_class_folders

    write_class_folders(tmp_path, {"a": [pattern_image(i, (2, 9)) for i in range(10)],
                                   "b": [pattern_image(50 + i, (2, 9)) for i in range(10)]})
    with pytest.raises(Cnn2GnnError, match=r"training image .*\.png is 2x9 pixels; it would be upscaled 8x"):
        training_data(f"imagefolder:{tmp_path}", 0, _pre, "on")
