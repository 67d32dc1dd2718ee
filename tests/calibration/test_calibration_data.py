"""Calibration images come from the training split only, class-balanced; bad images are counted and named.

Every image written here carries its own id in its first two pixels, so the ids read back from the
preprocessed calibration tensors say exactly which files were used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.calibration.calibrate_onnx import CalibrationWarnings, select_calibration_tensors
from cnn2gnn.calibration.calibration_data import check_source_matches_model, image_source
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing
from tests.toolchain.data._writers import write_class_folders

CLASSES = ["ant", "bee", "cat"]
# Identity preprocessing at the images' own size: a tensor value is pixel / 255 exactly.
METADATA = ModelMetadata(kind="student", class_names=CLASSES,
                         preprocessing=Preprocessing(8, 8, 1, mean=(0.0,), std=(1.0,)))


def _image(image_id: int) -> np.ndarray:
    img = np.random.default_rng(image_id).integers(0, 256, (8, 8), dtype=np.uint8)
    img[0, 0], img[0, 1] = image_id % 256, image_id // 256
    return img


def _ids(tensors: np.ndarray) -> list[int]:
    pixels = np.rint(tensors[:, 0, 0, :2] * 255).astype(int)
    return (pixels[:, 0] + 256 * pixels[:, 1]).tolist()


def _write(root: Path, first_id: int, per_class: int) -> dict[str, list[int]]:
    ids = {name: [first_id + 100 * c + i for i in range(per_class)] for c, name in enumerate(CLASSES)}
    write_class_folders(root, {name: [_image(i) for i in class_ids] for name, class_ids in ids.items()})
    return ids


def _all(ids: dict[str, list[int]]) -> set[int]:
    return {i for class_ids in ids.values() for i in class_ids}


@pytest.fixture()
def split_folder(tmp_path: Path) -> tuple[Path, dict[str, dict[str, list[int]]]]:
    """train/val/test on disk, 10 images per class in train; one train file of class 'ant' is corrupt."""
    ids = {"train": _write(tmp_path / "train", 0, 10), "val": _write(tmp_path / "val", 1000, 3),
           "test": _write(tmp_path / "test", 2000, 3)}
    (tmp_path / "train" / "ant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return tmp_path, ids


def test_calibration_images_are_training_images_only_and_class_balanced(split_folder) -> None:
    root, ids = split_folder
    source = image_source(f"imagefolder:{root}", split_seed=0)
    check_source_matches_model(source, METADATA, "model.onnx")
    warnings = CalibrationWarnings()
    tensors, info = select_calibration_tensors(source, METADATA, 15, 0, warnings, progress=False)
    used = _ids(tensors)
    assert len(used) == 15 and len(set(used)) == 15
    assert set(used) <= _all(ids["train"])
    assert not set(used) & (_all(ids["test"]) | _all(ids["val"]))
    assert info["per_class"] == {"ant": 5, "bee": 5, "cat": 5}
    for name in CLASSES:
        assert sum(i in ids["train"][name] for i in used) == 5


def test_undecodable_images_are_counted_named_and_skipped(split_folder) -> None:
    root, ids = split_folder
    source = image_source(f"imagefolder:{root}", split_seed=0)
    warnings = CalibrationWarnings()
    tensors, info = select_calibration_tensors(source, METADATA, 1000, 0, warnings, progress=False)
    assert [Path(f["image"]).name for f in info["failed_images"]] == ["broken.png"]
    assert "cannot decode" in info["failed_images"][0]["error"]
    # Every usable training image, and nothing else; both problems are warned about.
    assert sorted(_ids(tensors)) == sorted(_all(ids["train"]))
    assert any("1 training image(s) could not be used" in w and "broken.png" in w for w in warnings)
    assert any("asked for 1000 calibration images" in w and "only 30 usable" in w for w in warnings)


def test_unsplit_folder_is_split_exactly_as_the_loader_splits_it(tmp_path: Path) -> None:
    from cnn2gnn.toolchain.data import load_dataset

    _write(tmp_path, 0, 20)
    spec = f"imagefolder:{tmp_path}"
    loaded = load_dataset(spec, seed=5)

    def loader_ids(split) -> set[int]:
        return {int(img[0, 0]) + 256 * int(img[0, 1]) for img in split.images}

    source = image_source(spec, split_seed=5)
    tensors, _ = select_calibration_tensors(source, METADATA, 1000, 0, CalibrationWarnings(), progress=False)
    assert set(_ids(tensors)) == loader_ids(loaded.train)
    assert not set(_ids(tensors)) & (loader_ids(loaded.val) | loader_ids(loaded.test))


def test_a_dataset_with_other_classes_is_refused(split_folder) -> None:
    root, _ = split_folder
    source = image_source(f"imagefolder:{root}", split_seed=0)
    digits = ModelMetadata(kind="student", class_names=[str(i) for i in range(10)], preprocessing=METADATA.preprocessing)
    with pytest.raises(Cnn2GnnError, match=r"data vs model: 3 vs 10 classes; the first difference is class 0: 'ant' vs '0'"):
        check_source_matches_model(source, digits, "model.onnx")
    renamed = ModelMetadata(kind="student", class_names=["ant", "bee", "dog"], preprocessing=METADATA.preprocessing)
    with pytest.raises(Cnn2GnnError, match="3 classes each; the first difference is class 2: 'cat' vs 'dog'"):
        check_source_matches_model(source, renamed, "model.onnx")


def test_class_names_rename_a_listed_folder_and_a_loaded_dataset(split_folder, tmp_path_factory) -> None:
    """--class-names reaches both ways calibration reads data: the imagefolder listing and load_dataset."""
    root, _ = split_folder
    elsewhere = tmp_path_factory.mktemp("names")  # not inside the image folder
    names = elsewhere / "names.txt"
    names.write_text("Ant\nBee\nCat\n")
    listed = image_source(f"imagefolder:{root}", split_seed=0, class_names=names)
    assert listed.class_names == ["Ant", "Bee", "Cat"]
    assert listed.fingerprint != image_source(f"imagefolder:{root}", split_seed=0).fingerprint
    assert image_source(f"imagefolder:{root}", split_seed=0, class_names=["a", "b", "c"]).class_names == ["a", "b", "c"]
    digit_names = elsewhere / "digits.txt"
    digit_names.write_text("".join(f"d{i}\n" for i in range(10)))
    assert image_source("digits", split_seed=0, class_names=digit_names).class_names == [f"d{i}" for i in range(10)]
    with pytest.raises(Cnn2GnnError, match=r"--class-names for --data imagefolder:.*digits\.txt has 10 class name\(s\) "
                                           r"but the data has 3 classes"):
        image_source(f"imagefolder:{root}", split_seed=0, class_names=digit_names)
