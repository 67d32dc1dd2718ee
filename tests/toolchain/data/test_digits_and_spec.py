from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset, parse_data_spec

pytest.importorskip("sklearn")


def test_digits_is_a_stratified_deterministic_split():
    ds = load_dataset("digits", seed=0, val_fraction=0.1, test_fraction=0.2)
    assert ds.class_names == [str(i) for i in range(10)] and ds.channels == 1
    assert len(ds.train) + len(ds.val) + len(ds.split("test")) == 1797
    assert abs(len(ds.val) - 180) <= 10 and abs(len(ds.split("test")) - 359) <= 10
    img = ds.train.images[0]
    assert img.shape == (8, 8) and img.dtype == np.uint8 and max(i.max() for i in ds.train.images) == 255
    for split, fraction in ((ds.val, 0.1), (ds.split("test"), 0.2)):
        counts = np.bincount(split.labels, minlength=10)
        full = np.bincount(np.concatenate([ds.train.labels, ds.val.labels, ds.split("test").labels]), minlength=10)
        assert np.all(np.abs(counts - fraction * full) <= 1)  # each class in proportion


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = load_dataset("digits", seed=7), load_dataset("digits", seed=7), load_dataset("digits", seed=8)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_unknown_spec_lists_the_valid_names():
    with pytest.raises(Cnn2GnnError, match=r"unknown dataset 'svhn:/x'.*digits.*imagefolder:PATH.*cifar10:PATH"
                                           r".*cifar100:PATH.*idx:PATH.*mini-imagenet:PATH"):
        load_dataset("svhn:/x")


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(Cnn2GnnError, match=rf"dataset path {missing} does not exist"):
        load_dataset(f"idx:{missing}")


def test_path_required_or_refused():
    with pytest.raises(Cnn2GnnError, match=r"needs a path: --data cifar10:PATH"):
        parse_data_spec("cifar10")
    with pytest.raises(Cnn2GnnError, match=r"takes no path"):
        parse_data_spec("digits:/tmp")
