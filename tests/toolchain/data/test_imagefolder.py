from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from tests.toolchain.data._writers import pattern_image, write_class_folders, write_image

pytest.importorskip("cv2")

CLASSES = ["cat", "dog", "zebra"]


def _images(cls: int, n: int, shape: tuple[int, ...] = (6, 5)) -> list[np.ndarray]:
    return [pattern_image(100 * cls + i, shape) for i in range(n)]


def _lookup(per_class: dict[str, list[np.ndarray]]) -> dict[bytes, str]:
    return {img.tobytes(): name for name, imgs in per_class.items() for img in imgs}


def _assert_split_matches(split, lookup, class_names):
    for img, label in zip(split.images, split.labels):
        assert img.dtype == np.uint8
        assert lookup[img.tobytes()] == class_names[label]


def test_unsplit_layout_is_split_three_ways(tmp_path):
    per_class = {name: _images(c, 10) for c, name in enumerate(reversed(CLASSES))}
    write_class_folders(tmp_path, per_class)
    ds = load_dataset(f"imagefolder:{tmp_path}", seed=0, val_fraction=0.1, test_fraction=0.2)

    assert ds.class_names == CLASSES  # sorted, whatever order the directories were made in
    assert ds.channels == 1
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (21, 3, 6)
    for split in (ds.train, ds.val, ds.split("test")):
        assert np.bincount(split.labels, minlength=3).min() == np.bincount(split.labels, minlength=3).max()
        assert split.images[0].shape == (6, 5)
        _assert_split_matches(split, _lookup(per_class), ds.class_names)
    seen = {img.tobytes() for s in (ds.train, ds.val, ds.split("test")) for img in s.images}
    assert len(seen) == 30  # every image exactly once


def test_split_is_reproducible_and_seed_dependent(tmp_path):
    write_class_folders(tmp_path, {name: _images(c, 10) for c, name in enumerate(CLASSES)})
    spec = f"imagefolder:{tmp_path}"
    a, b, c = load_dataset(spec, seed=3), load_dataset(spec, seed=3), load_dataset(spec, seed=4)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_non_images_and_hidden_dirs_are_ignored(tmp_path):
    write_class_folders(tmp_path, {name: _images(c, 10) for c, name in enumerate(CLASSES)})
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "README.md").write_text("readme")
    write_image(tmp_path / ".thumbnails" / "x.png", pattern_image(9, (2, 2)))
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.class_names == CLASSES
    assert len(ds.train) + len(ds.val) + len(ds.split("test")) == 30


def test_mixed_gray_and_colour_becomes_rgb(tmp_path):
    gray = _images(0, 10)
    colour = _images(1, 10, (6, 5, 3))
    write_class_folders(tmp_path, {"gray": gray, "colour": colour})
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.channels == 3
    gray_bytes = {np.repeat(g[:, :, None], 3, axis=2).tobytes() for g in gray}
    colour_bytes = {c.tobytes() for c in colour}
    for split in (ds.train, ds.val, ds.split("test")):
        for img, label in zip(split.images, split.labels):
            assert img.shape == (6, 5, 3)
            assert img.tobytes() in (gray_bytes if ds.class_names[label] == "gray" else colour_bytes)


def test_split_layout_uses_the_directories_as_given(tmp_path):
    train = {name: _images(c, 4, (4, 4, 3)) for c, name in enumerate(CLASSES)}
    val = {"cat": _images(10, 2, (4, 4, 3)), "dog": _images(11, 2, (4, 4, 3))}  # no zebra in val: fine
    test = {name: _images(20 + c, 1, (4, 4, 3)) for c, name in enumerate(CLASSES)}
    write_class_folders(tmp_path / "train", train)
    write_class_folders(tmp_path / "val", val)
    write_class_folders(tmp_path / "test", test)
    ds = load_dataset(f"imagefolder:{tmp_path}")

    assert ds.class_names == CLASSES and ds.channels == 3
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (12, 4, 3)
    _assert_split_matches(ds.train, _lookup(train), CLASSES)
    _assert_split_matches(ds.val, _lookup(val), CLASSES)
    _assert_split_matches(ds.split("test"), _lookup(test), CLASSES)
    assert ds.train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def test_split_layout_without_val_or_test(tmp_path):
    write_class_folders(tmp_path / "train", {name: _images(c, 10) for c, name in enumerate(CLASSES)})
    ds = load_dataset(f"imagefolder:{tmp_path}", val_fraction=0.2)
    assert (len(ds.train), len(ds.val)) == (24, 6)
    assert ds.test is None


def test_a_class_named_train_is_the_unsplit_layout(tmp_path):
    write_class_folders(tmp_path, {"train": _images(0, 10), "plane": _images(1, 10)})
    assert load_dataset(f"imagefolder:{tmp_path}").class_names == ["plane", "train"]


def test_empty_class_names_the_directory(tmp_path):
    write_class_folders(tmp_path, {"cat": _images(0, 3)})
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("no images here")
    with pytest.raises(Cnn2GnnError, match=r"empty class: .*dog"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_empty_class_in_train_split(tmp_path):
    write_class_folders(tmp_path / "train", {"cat": _images(0, 3)})
    (tmp_path / "train" / "dog").mkdir()
    write_class_folders(tmp_path / "val", {"cat": _images(1, 1)})
    with pytest.raises(Cnn2GnnError, match=r"empty class: .*train.dog"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_corrupt_image_names_the_file(tmp_path):
    write_class_folders(tmp_path, {"cat": _images(0, 3), "dog": _images(1, 3)})
    (tmp_path / "dog" / "bad.png").write_bytes(np.random.default_rng(1).bytes(200))
    with pytest.raises(Cnn2GnnError, match=r"dog.bad\.png is corrupt or not an image"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_no_class_directories(tmp_path):
    write_image(tmp_path / "loose.png", pattern_image(0, (3, 3)))
    with pytest.raises(Cnn2GnnError, match="no class directories"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_path_that_is_a_file(tmp_path):
    f = write_image(tmp_path / "one.png", pattern_image(0, (3, 3)))
    with pytest.raises(Cnn2GnnError, match=r"one\.png is not a directory"):
        load_dataset(f"imagefolder:{f}")


@pytest.mark.parametrize("names", [("Train", "Val", "Test"), ("training", "validation", "testing"),
                                   ("train", "valid", "test")])
def test_split_folders_in_other_spellings_are_splits_not_classes(tmp_path, names):
    train = {name: _images(c, 4) for c, name in enumerate(CLASSES)}
    val = {name: _images(10 + c, 2) for c, name in enumerate(CLASSES)}
    test = {name: _images(20 + c, 1) for c, name in enumerate(CLASSES)}
    for folder, split in zip(names, (train, val, test)):
        write_class_folders(tmp_path / folder, split)
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.class_names == CLASSES
    _assert_split_matches(ds.train, _lookup(train), CLASSES)
    _assert_split_matches(ds.val, _lookup(val), CLASSES)
    _assert_split_matches(ds.split("test"), _lookup(test), CLASSES)
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (12, 6, 3)


def test_two_folders_of_one_split_are_refused(tmp_path):
    for folder in ("train", "val", "valid"):
        write_class_folders(tmp_path / folder, {"cat": _images(0, 2), "dog": _images(1, 2)})
    with pytest.raises(Cnn2GnnError, match=r"2 val folders \(val, valid\)"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_a_folder_beside_the_split_folders_is_refused_not_ignored(tmp_path):
    write_class_folders(tmp_path / "train", {"cat": _images(0, 4), "dog": _images(1, 4)})
    write_class_folders(tmp_path / "extra", {"cat": _images(2, 2)})
    with pytest.raises(Cnn2GnnError, match=r"holds train and also extra, which no split would read\. "
                                           r"If train is a split folder, move extra into"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_a_class_named_train_with_subfolders_beside_other_classes_is_refused(tmp_path):
    write_class_folders(tmp_path, {"plane": _images(0, 4)})
    write_class_folders(tmp_path / "train", {"2019": _images(1, 4)})  # train/2019/*.png: a class folder with a subfolder
    with pytest.raises(Cnn2GnnError, match=r"and also plane, .* if every folder there is a class .* rename"):
        load_dataset(f"imagefolder:{tmp_path}")


@pytest.mark.parametrize("where, stray", [("", ""), ("train", "train"), ("train", "")])  # ("train", ""): beside train/
def test_an_image_outside_any_class_folder_is_refused(tmp_path, where, stray):
    write_class_folders(tmp_path / where, {"cat": _images(0, 4), "dog": _images(1, 4)})
    write_image(tmp_path / stray / "stray.png", pattern_image(7, (6, 5)))
    with pytest.raises(Cnn2GnnError, match=r"images outside any class directory \(stray\.png\)"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_hidden_folders_and_files_and_macos_residue_are_ignored(tmp_path):
    write_class_folders(tmp_path, {name: _images(c, 10) for c, name in enumerate(CLASSES)})
    write_image(tmp_path / "cat" / ".ipynb_checkpoints" / "copy.png", pattern_image(0, (6, 5)))
    write_image(tmp_path / "__MACOSX" / "cat" / "._0.png", pattern_image(1, (6, 5)))  # a macOS zip's residue
    (tmp_path / "dog" / "._0.png").write_bytes(b"AppleDouble resource fork, not an image")
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert len(ds.train) + len(ds.val) + len(ds.split("test")) == 30


def test_linked_folders_are_followed_once_and_a_broken_link_is_refused(tmp_path):
    data = tmp_path / "data"
    write_class_folders(data, {"cat": _images(0, 5), "dog": _images(1, 5)})
    write_class_folders(tmp_path / "elsewhere", {"more": _images(2, 5)})
    (data / "cat" / "more").symlink_to(tmp_path / "elsewhere" / "more", target_is_directory=True)
    (data / "dog" / "loop").symlink_to(data / "dog", target_is_directory=True)  # must not hang nor double-count
    ds = load_dataset(f"imagefolder:{data}")
    counts = np.bincount(np.concatenate([s.labels for s in (ds.train, ds.val, ds.split("test"))]))
    assert counts.tolist() == [10, 5]
    (data / "dog" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(Cnn2GnnError, match=r"gone\.png is a link to nothing"):
        load_dataset(f"imagefolder:{data}")
    (data / "dog" / "gone.png").unlink()
    (data / "dog" / "photos").symlink_to(tmp_path / "no-such-folder", target_is_directory=True)  # inside a class
    with pytest.raises(Cnn2GnnError, match=r"photos is a link to nothing"):
        load_dataset(f"imagefolder:{data}")
    (data / "dog" / "photos").unlink()
    (data / "bird").symlink_to(tmp_path / "no-such-class", target_is_directory=True)
    with pytest.raises(Cnn2GnnError, match=r"bird is a link to nothing"):
        load_dataset(f"imagefolder:{data}")


def test_a_link_to_a_folder_above_the_class_is_refused(tmp_path):
    """cat/up -> .. would walk dog's images into cat."""
    write_class_folders(tmp_path, {"cat": _images(0, 5), "dog": _images(1, 5)})
    (tmp_path / "cat" / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(Cnn2GnnError, match=r"cat.up links to '\.\.', a folder above the class cat"):
        load_dataset(f"imagefolder:{tmp_path}")
