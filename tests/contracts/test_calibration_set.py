"""Calibration sets: round trip, atomic write, and refusal (naming the fields) of a set made for something else."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnn2gnn.contracts.calibration_set import (
    calibration_set_key,
    key_differences,
    load_calibration_set,
    save_calibration_set,
)
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing


def _key(**changes: Any) -> dict:
    fields: dict[str, Any] = dict(model_sha256="ab" * 32, model_hash_of="checkpoint", dataset="digits",
                                  dataset_fingerprint="f" * 64, split="train", split_seed=0,
                                  preprocessing=Preprocessing(16, 16, 1).to_dict(), num_images=64, seed=0)
    fields.update(changes)
    return calibration_set_key(**fields)  # type: ignore[arg-type]


def _tensors(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, 1, 16, 16)).astype(np.float32)


def test_round_trip_keeps_tensors_and_key(tmp_path: Path) -> None:
    path = save_calibration_set(tmp_path / "set.npz", _tensors(), _key())
    tensors, key = load_calibration_set(path, _key())
    np.testing.assert_array_equal(tensors, _tensors())
    assert tensors.dtype == np.float32 and key == _key()
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]  # no temporary file left beside it


def test_load_without_expected_key_returns_the_stored_key(tmp_path: Path) -> None:
    save_calibration_set(tmp_path / "set.npz", _tensors(), _key(seed=7))
    assert load_calibration_set(tmp_path / "set.npz", None)[1]["seed"] == 7


@pytest.mark.parametrize(
    ("changes", "named", "num_differences"),
    [({"seed": 1}, "seed: stored 0, expected 1", 1),
     ({"num_images": 512}, "num_images: stored 64, expected 512", 1),
     ({"model_sha256": "cd" * 32}, "model_sha256: stored", 1),
     ({"dataset_fingerprint": "0" * 64}, "dataset_fingerprint: stored", 1),
     ({"preprocessing": Preprocessing(32, 32, 1).to_dict()}, "preprocessing.height: stored 16, expected 32", 2)],
)
def test_a_set_made_for_something_else_is_refused_naming_the_field(tmp_path: Path, changes: dict, named: str,
                                                                   num_differences: int) -> None:
    save_calibration_set(tmp_path / "set.npz", _tensors(), _key())
    with pytest.raises(Cnn2GnnError, match="refusing to reuse") as err:
        load_calibration_set(tmp_path / "set.npz", _key(**changes))
    assert named in str(err.value)
    assert str(err.value).count(": stored") == num_differences  # only the fields that differ are named


def test_key_differences_lists_every_differing_field_only() -> None:
    diffs = key_differences(_key(), _key(seed=3, split_seed=2))
    assert [d.split(":")[0] for d in diffs] == ["seed", "split_seed"]


def test_missing_corrupt_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="does not exist"):
        load_calibration_set(tmp_path / "none.npz", None)
    path = save_calibration_set(tmp_path / "set.npz", _tensors(), _key())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(Cnn2GnnError, match="corrupt or truncated"):
        load_calibration_set(truncated, _key())
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, tensors=_tensors())
    with pytest.raises(Cnn2GnnError, match="not a cnn2gnn calibration set"):
        load_calibration_set(foreign, None)


def test_only_float32_image_batches_are_saved(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="float32"):
        save_calibration_set(tmp_path / "a.npz", _tensors().astype(np.float64), _key())
    with pytest.raises(Cnn2GnnError, match=r"\(N>0, C, H, W\)"):
        save_calibration_set(tmp_path / "b.npz", np.zeros((0, 1, 4, 4), np.float32), _key())
    assert not list(tmp_path.iterdir())


def test_overwriting_an_existing_set_is_atomic(tmp_path: Path) -> None:
    path = save_calibration_set(tmp_path / "set.npz", _tensors(3), _key(num_images=3))
    save_calibration_set(path, _tensors(5), _key(num_images=5))
    tensors, key = load_calibration_set(path, _key(num_images=5))
    assert len(tensors) == 5 and key["num_images"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]


def _rewritten(path: Path, **entries: np.ndarray) -> Path:
    """The set at ``path`` with some of its entries replaced, key and format kept: an edited or damaged set."""
    with np.load(path, allow_pickle=False) as npz:
        stored = {name: npz[name] for name in npz.files}
    out = path.with_name("edited.npz")
    np.savez(out, **{**stored, **entries})
    return out


def test_tensors_that_do_not_match_their_checksum_are_refused(tmp_path: Path) -> None:
    path = save_calibration_set(tmp_path / "set.npz", _tensors(), _key())
    edited = _rewritten(path, tensors=_tensors() * 2)
    with pytest.raises(Cnn2GnnError, match=r"tensors do not match their checksum \(edited or damaged\)"):
        load_calibration_set(edited, _key())
    with np.load(path, allow_pickle=False) as npz:
        unchecked = {name: npz[name] for name in npz.files if name != "tensors_sha256"}
    np.savez(tmp_path / "old.npz", **unchecked)
    with pytest.raises(Cnn2GnnError, match=r"has no checksum of its tensors \(made by an older cnn2gnn\)"):
        load_calibration_set(tmp_path / "old.npz", _key())


def test_non_finite_tensors_are_neither_saved_nor_loaded(tmp_path: Path) -> None:
    bad = _tensors()
    bad[1, 0, 2, 3] = np.nan
    with pytest.raises(Cnn2GnnError, match=r"non-finite values \(NaN or Inf\)"):
        save_calibration_set(tmp_path / "a.npz", bad, _key())
    assert not list(tmp_path.iterdir())
    path = save_calibration_set(tmp_path / "set.npz", _tensors(), _key())
    edited = _rewritten(path, tensors=bad, tensors_sha256=np.array(hashlib.sha256(bad.tobytes()).hexdigest()))
    with pytest.raises(Cnn2GnnError, match=r"edited\.npz holds non-finite values"):
        load_calibration_set(edited, _key())


def test_a_folder_given_as_the_set_says_so(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"is a folder; pass a file path"):
        load_calibration_set(tmp_path, None)
