from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from tests.toolchain.data._writers import MNIST_NAMES, idx_bytes, write_idx, write_mnist


def _pair(seed: int, n: int, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, (np.arange(n) % num_classes).astype(np.uint8)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_files_load_exactly(tmp_path, gz):
    train, test = _pair(0, 100), _pair(1, 20)
    write_mnist(tmp_path, train, test, gz=gz)
    ds = load_dataset(f"idx:{tmp_path}", seed=0, val_fraction=0.1)

    assert ds.class_names == [str(i) for i in range(10)] and ds.channels == 1
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (90, 10, 10 * 2)
    assert np.bincount(ds.val.labels).tolist() == [1] * 10
    assert ds.split("test").labels.dtype == np.int64
    np.testing.assert_array_equal(np.stack(ds.split("test").images), test[0])
    assert ds.split("test").labels.tolist() == test[1].tolist()
    by_bytes = {img.tobytes(): int(lbl) for img, lbl in zip(*train)}
    for split in (ds.train, ds.val):
        for img, label in zip(split.images, split.labels):
            assert img.shape == (28, 28) and by_bytes[img.tobytes()] == label


def test_header_is_the_real_idx_layout():
    data = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == b"\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04"
    assert len(data) == 16 + 24


def test_other_dataset_names_are_found(tmp_path):
    names = {
        "train_images": "emnist-digits-train-images-idx3-ubyte",
        "train_labels": "emnist-digits-train-labels-idx1-ubyte",
        "test_images": "emnist-digits-test-images-idx3-ubyte",
        "test_labels": "emnist-digits-test-labels-idx1-ubyte",
    }
    write_mnist(tmp_path, _pair(0, 30, 3), _pair(1, 6, 3), names=names)
    ds = load_dataset(f"idx:{tmp_path}")
    assert ds.class_names == ["0", "1", "2"] and len(ds.split("test")) == 6


def test_extracted_and_gzipped_copies_side_by_side(tmp_path):
    write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=True)
    write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=False)
    assert len(load_dataset(f"idx:{tmp_path}").split("test")) == 10


def test_gzip_is_detected_by_content(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=False)
    raw = paths["test_images"].read_bytes()
    paths["test_images"].write_bytes(gzip.compress(raw))  # gzipped but named without .gz
    assert len(load_dataset(f"idx:{tmp_path}").split("test")) == 10


def test_the_labels_present_are_the_classes(tmp_path):
    """EMNIST-letters' labels start at 1: no empty class "0" (nor "2", "3" here), names are the label values."""
    images = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    train = (images[:4], np.array([1, 4, 1, 4], np.uint8))
    test = (images[4:], np.array([4], np.uint8))
    write_mnist(tmp_path, train, test)
    ds = load_dataset(f"idx:{tmp_path}", val_fraction=0.5)
    assert ds.class_names == ["1", "4"]
    assert ds.split("test").labels.tolist() == [1]
    by_image = {img.tobytes(): ds.class_names[label] for s in (ds.train, ds.val) for img, label in zip(s.images, s.labels)}
    assert by_image == {images[i].tobytes(): str(train[1][i]) for i in range(4)}


def test_truncated_images_name_the_file(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=False)
    raw = paths["train_images"].read_bytes()
    paths["train_images"].write_bytes(raw[:-100])
    with pytest.raises(Cnn2GnnError, match=r"train-images-idx3-ubyte is truncated: dimensions \(30, 28, 28\)"):
        load_dataset(f"idx:{tmp_path}")


def test_truncated_gzip_names_the_file(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=True)
    raw = paths["test_labels"].read_bytes()
    paths["test_labels"].write_bytes(raw[: len(raw) // 2])
    with pytest.raises(Cnn2GnnError, match=r"t10k-labels-idx1-ubyte\.gz is a corrupt gzip file"):
        load_dataset(f"idx:{tmp_path}")


def test_truncated_header(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=False)
    paths["test_images"].write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(Cnn2GnnError, match=r"t10k-images-idx3-ubyte is truncated: the file ends inside its header"):
        load_dataset(f"idx:{tmp_path}")


def test_trailing_bytes(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=False)
    paths["train_labels"].write_bytes(paths["train_labels"].read_bytes() + b"\x00")
    with pytest.raises(Cnn2GnnError, match=r"train-labels-idx1-ubyte has trailing bytes"):
        load_dataset(f"idx:{tmp_path}")


def test_bad_magic_names_the_file(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=True)
    paths["train_labels"].write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(50)))
    with pytest.raises(Cnn2GnnError, match=r"train-labels-idx1-ubyte\.gz is not an IDX file \(bad magic 89504e47"):
        load_dataset(f"idx:{tmp_path}")


def test_wrong_type_or_rank(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), gz=False)
    write_idx(paths["test_images"], np.zeros((10, 784), np.uint8))  # 2-D: not an images file
    with pytest.raises(Cnn2GnnError, match=r"t10k-images-idx3-ubyte: IDX header says type 0x08 with 2 dimensions"):
        load_dataset(f"idx:{tmp_path}")


def test_mismatched_counts_name_both_files(tmp_path):
    write_mnist(tmp_path, _pair(0, 30), (_pair(1, 10)[0], _pair(1, 9)[1]))
    message = r"t10k-images-idx3-ubyte\.gz has 10 images but .*t10k-labels-idx1-ubyte\.gz has 9 labels"
    with pytest.raises(Cnn2GnnError, match=message):
        load_dataset(f"idx:{tmp_path}")


def test_missing_file_is_named(tmp_path):
    paths = write_mnist(tmp_path, _pair(0, 30), _pair(1, 10))
    paths["test_labels"].unlink()
    with pytest.raises(Cnn2GnnError, match=r"missing IDX file: no t10k-labels-idx1-ubyte\[\.gz\]"):
        load_dataset(f"idx:{tmp_path}")


def test_two_datasets_in_one_folder_is_ambiguous(tmp_path):
    write_mnist(tmp_path, _pair(0, 30), _pair(1, 10))
    other = {key: "fashion-" + name for key, name in MNIST_NAMES.items()}
    write_mnist(tmp_path, _pair(0, 30), _pair(1, 10), names=other)
    with pytest.raises(Cnn2GnnError, match=r"several train images files"):
        load_dataset(f"idx:{tmp_path}")


def test_train_and_test_labels_from_different_datasets_are_refused(tmp_path):
    """Train labels all 200, test labels 0-9: once a silent 201-class model with validation accuracy 0."""
    images = np.zeros((20, 4, 4), np.uint8)
    paths = write_mnist(tmp_path, (images, np.full(20, 200, np.uint8)), (images[:10], np.arange(10, dtype=np.uint8)))
    before = {p: p.read_bytes() for p in paths.values()}
    with pytest.raises(Cnn2GnnError) as err:
        load_dataset(f"idx:{tmp_path}")
    message = str(err.value)
    assert "the test split has 10 class(es) the train split never shows ('0', '1', '2', '3', '4', ...)" in message
    assert "train 200..200 (1 distinct)" in message and "test 0..9 (10 distinct)" in message
    assert "come from one dataset" in message
    assert {p: p.read_bytes() for p in paths.values()} == before


def test_a_classes_file_beside_the_data_names_the_classes(tmp_path):
    train = (np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 2, 1], np.uint8))
    write_mnist(tmp_path, train, (np.zeros((1, 2, 2), np.uint8), np.array([2], np.uint8)))
    (tmp_path / "classes.txt").write_text("T-shirt/top\nTrouser\nPullover\n")
    assert load_dataset(f"idx:{tmp_path}", val_fraction=0.5).class_names == ["T-shirt/top", "Trouser", "Pullover"]
    (tmp_path / "classes.txt").write_text("T-shirt/top\nTrouser\n")
    with pytest.raises(Cnn2GnnError, match=r"classes.txt has 2 class name\(s\) but the data has 3 classes"):
        load_dataset(f"idx:{tmp_path}", val_fraction=0.5)


@pytest.mark.parametrize("lines, names", [
    ("a\nb\nc\nd\n", ["a", "b", "c", "d"]),  # one name per class present (EMNIST-letters' mapping: 26 lines for 1..26)
    ("zero\none\ntwo\nthree\nfour\nfive\n", ["one", "two", "four", "five"]),  # one per label value 0..5
])
def test_a_classes_file_names_the_classes_present_in_either_form(tmp_path, lines, names):
    train = (np.zeros((4, 2, 2), np.uint8), np.array([1, 2, 4, 5], np.uint8))
    write_mnist(tmp_path, train, (np.zeros((1, 2, 2), np.uint8), np.array([5], np.uint8)))
    (tmp_path / "classes.txt").write_text(lines)
    ds = load_dataset(f"idx:{tmp_path}", val_fraction=0.25)
    assert ds.class_names == names and ds.split("test").labels.tolist() == [3]
    (tmp_path / "classes.txt").write_text("a\nb\n")
    with pytest.raises(Cnn2GnnError, match=r"has 2 class name\(s\) but the data has 4 classes \(the labels 1, 2, 4, 5\); "
                                           r"name each of them, or each label value 0\.\.5 \(6 names\)"):
        load_dataset(f"idx:{tmp_path}", val_fraction=0.25)
