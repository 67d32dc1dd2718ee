from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from tests.toolchain.data._writers import cifar_rows, py2_pickle, write_cifar10, write_cifar100

NAMES10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _batch(seed: int, n: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    return images, np.arange(n) % num_classes


@pytest.fixture
def cifar10(tmp_path):
    batches = [_batch(i, 20, 10) for i in range(5)]
    test = _batch(99, 10, 10)
    folder = write_cifar10(tmp_path, batches, test, NAMES10)
    return tmp_path, folder, batches, test


def test_cifar10_reads_the_python_archive(cifar10):
    parent, folder, batches, test = cifar10
    ds = load_dataset(f"cifar10:{parent}", seed=0, val_fraction=0.1)

    assert ds.class_names == NAMES10 and ds.channels == 3
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (90, 10, 10)
    assert np.bincount(ds.val.labels).tolist() == [1] * 10  # stratified
    assert ds.train.images[0].shape == (32, 32, 3) and ds.train.images[0].dtype == np.uint8
    np.testing.assert_array_equal(np.stack(ds.split("test").images), test[0])
    assert ds.split("test").labels.tolist() == test[1].tolist()
    written = {img.tobytes(): int(lbl) for imgs, lbls in batches for img, lbl in zip(imgs, lbls)}
    for img, label in zip(ds.train.images + ds.val.images, np.concatenate([ds.train.labels, ds.val.labels])):
        assert written[img.tobytes()] == label
    assert len(written) == 100


def test_channel_major_rows_become_rgb_pixels(tmp_path):
    # Row layout in the archive: 1024 red values, then 1024 green, then 1024 blue, each row-major.
    row = np.zeros((1, 3072), dtype=np.uint8)
    row[0, 0 * 1024 + 2 * 32 + 5] = 11  # R at y=2, x=5
    row[0, 1 * 1024 + 2 * 32 + 5] = 22  # G
    row[0, 2 * 1024 + 31 * 32 + 0] = 33  # B at y=31, x=0
    images = row.reshape(1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(cifar_rows(images), row)
    batches = [(np.repeat(images, 10, axis=0), np.arange(10))] * 5
    write_cifar10(tmp_path, batches, (images, np.array([0])), NAMES10)
    img = load_dataset(f"cifar10:{tmp_path}").split("test").images[0]
    assert tuple(img[2, 5]) == (11, 22, 0) and tuple(img[31, 0]) == (0, 0, 33)


def test_the_extracted_folder_itself_works(cifar10):
    _, folder, _, _ = cifar10
    assert len(load_dataset(f"cifar10:{folder}").split("test")) == 10


def test_pickles_written_by_python3_load_too(cifar10):
    _, folder, batches, _ = cifar10
    images, labels = batches[1]
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": cifar_rows(images), b"labels": labels.tolist()}, f, protocol=5)
    ds = load_dataset(f"cifar10:{folder}")
    assert len(ds.train) + len(ds.val) == 100


def test_cifar100(tmp_path):
    fine = [f"class{i:02d}" for i in range(100)]
    train, test = _batch(1, 400, 100), _batch(2, 100, 100)
    write_cifar100(tmp_path, train, test, fine)
    ds = load_dataset(f"cifar100:{tmp_path}", val_fraction=0.25)
    assert ds.class_names == fine and ds.num_classes == 100
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (300, 100, 100)
    np.testing.assert_array_equal(np.stack(ds.split("test").images), test[0])
    assert ds.split("test").labels.tolist() == test[1].tolist()


def test_missing_batch_is_named(cifar10):
    _, folder, _, _ = cifar10
    (folder / "data_batch_3").unlink()
    with pytest.raises(Cnn2GnnError, match=r"missing CIFAR file .*data_batch_3"):
        load_dataset(f"cifar10:{folder}")


def test_cifar100_pointed_at_cifar10_names_the_missing_file(cifar10):
    parent, _, _, _ = cifar10
    with pytest.raises(Cnn2GnnError, match=r"missing CIFAR file .*meta"):
        load_dataset(f"cifar100:{parent}")


def test_wrong_keys_are_reported(cifar10):
    _, folder, batches, _ = cifar10
    (folder / "data_batch_4").write_bytes(py2_pickle({b"images": cifar_rows(batches[3][0]), b"labels": [0]}))
    with pytest.raises(Cnn2GnnError, match=r"wrong pickle layout: .*data_batch_4 has keys \[b'images', b'labels'\]"):
        load_dataset(f"cifar10:{folder}")


def test_data_of_the_wrong_shape(cifar10):
    _, folder, _, _ = cifar10
    (folder / "test_batch").write_bytes(py2_pickle({b"data": np.zeros((10, 1024), np.uint8), b"labels": [0] * 10}))
    with pytest.raises(Cnn2GnnError, match=r"test_batch: b'data' is uint8 \(10, 1024\), expected uint8 N x 3072"):
        load_dataset(f"cifar10:{folder}")


def test_label_count_mismatch(cifar10):
    _, folder, batches, _ = cifar10
    data = {b"data": cifar_rows(batches[0][0]), b"labels": [0] * 19}
    (folder / "data_batch_1").write_bytes(py2_pickle(data))
    with pytest.raises(Cnn2GnnError, match=r"data_batch_1: 20 images but 19 labels"):
        load_dataset(f"cifar10:{folder}")


def test_label_out_of_range(cifar10):
    _, folder, batches, _ = cifar10
    data = {b"data": cifar_rows(batches[4][0]), b"labels": [0] * 19 + [10]}
    (folder / "data_batch_5").write_bytes(py2_pickle(data))
    with pytest.raises(Cnn2GnnError, match=r"data_batch_5: label 10 is outside 0\.\.9"):
        load_dataset(f"cifar10:{folder}")


@pytest.mark.parametrize("labels, problem", [
    ([0.0] * 19 + [1.7], r"b'labels' holds float64 values, expected integer labels"),  # would be truncated to 1
    (b"\x00" * 20, r"b'labels' holds \|S20 values, expected integer labels"),
    ([[0, 1]] * 19 + [[0]], r"b'labels' is not a list of integer labels"),  # ragged
    ([], r"20 images but 0 labels"),
])
def test_labels_that_are_not_integers_are_refused(cifar10, labels, problem):
    _, folder, batches, _ = cifar10
    (folder / "data_batch_2").write_bytes(py2_pickle({b"data": cifar_rows(batches[1][0]), b"labels": labels}))
    with pytest.raises(Cnn2GnnError, match=rf"data_batch_2: {problem}"):
        load_dataset(f"cifar10:{folder}")


@pytest.mark.parametrize("names, problem", [(10, r"is int, expected a list of class names"),
                                            ([b"caf\xe9"] * 10, r"a class name in b'label_names' is not UTF-8"),
                                            ([], r"is an empty list, expected one class name per class")])
def test_class_names_that_are_not_names_are_refused(cifar10, names, problem):
    _, folder, _, _ = cifar10
    (folder / "batches.meta").write_bytes(py2_pickle({b"label_names": names}))
    with pytest.raises(Cnn2GnnError, match=rf"batches\.meta: (b'label_names' )?{problem}"):
        load_dataset(f"cifar10:{folder}")


def test_truncated_pickle(cifar10):
    _, folder, _, _ = cifar10
    raw = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(Cnn2GnnError, match=r"test_batch is not a readable CIFAR pickle"):
        load_dataset(f"cifar10:{folder}")


class _Exploit:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_pickles_cannot_run_code(cifar10, tmp_path):
    _, folder, _, _ = cifar10
    target = tmp_path / "pwned"
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": _Exploit(str(target))}, protocol=2))
    with pytest.raises(Cnn2GnnError, match=r"batches\.meta is not a readable CIFAR pickle: refusing to load .*mkdir"):
        load_dataset(f"cifar10:{folder}")
    assert not target.exists()


def test_duplicated_class_names_in_the_meta_file_are_refused(tmp_path):
    names = NAMES10[:9] + ["cat"]
    write_cifar10(tmp_path, [_batch(i, 20, 10) for i in range(5)], _batch(99, 10, 10), names)
    with pytest.raises(Cnn2GnnError, match="the class name 'cat' appears twice in its class list"):
        load_dataset(f"cifar10:{tmp_path}")


def test_a_test_class_missing_from_every_training_batch_is_named(tmp_path):
    batches = [(images, np.where(labels == 3, 4, labels)) for images, labels in (_batch(i, 20, 10) for i in range(5))]
    write_cifar10(tmp_path, batches, _batch(99, 10, 10), NAMES10)
    with pytest.raises(Cnn2GnnError, match=r"the test split has 1 class\(es\) the train split never shows \('cat'\)"):
        load_dataset(f"cifar10:{tmp_path}")
