from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.distill.teacher_cache import (
    _key_hash,
    cached_teacher_logits,
    describe_teacher_cache,
    remove_teacher_cache_entry,
    teacher_cache_files,
    teacher_cache_key,
)

KEY = teacher_cache_key("data-fp", {"height": 16, "mean": [0.5]}, "teacher-sha", "train")


class _Filler:
    """Writes ``logits`` into the array it is given, row batch by row batch, and counts its calls."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits, self.calls, self.targets = logits, 0, []

    def __call__(self, out: np.ndarray) -> None:
        self.calls += 1
        self.targets.append(type(out))
        for start in range(0, len(out), 2):
            out[start:start + 2] = self.logits[start:start + 2]


def _expected_path(cache_dir: Path, key: dict) -> Path:
    return cache_dir / f"teacher-logits-{_key_hash(key)}.npy"


def _logits(shape=(7, 3)) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def test_miss_then_hit_round_trips_through_a_memory_mapped_npy(tmp_path: Path) -> None:
    logits = _logits()
    fill = _Filler(logits)
    first, status1 = cached_teacher_logits(tmp_path, KEY, logits.shape, fill)
    second, status2 = cached_teacher_logits(tmp_path, KEY, logits.shape, fill)
    assert (status1, status2) == ("miss", "hit")
    assert fill.calls == 1 and fill.targets == [np.memmap]  # written through a map, never one in-memory array
    assert isinstance(first, np.memmap) and isinstance(second, np.memmap)  # read back memory-mapped
    assert np.array_equal(first, logits) and np.array_equal(second, logits) and second.dtype == np.float32
    path = _expected_path(tmp_path, KEY)
    assert np.array_equal(np.load(path), logits)  # a plain .npy any numpy reads
    assert json.loads(path.with_suffix(".json").read_text())["key"] == KEY
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.with_suffix(".json").name, path.name]  # no temps


def test_writing_into_the_map_of_a_hit_never_changes_the_file(tmp_path: Path) -> None:
    logits = _logits()
    cached_teacher_logits(tmp_path, KEY, logits.shape, _Filler(logits))
    hit, _ = cached_teacher_logits(tmp_path, KEY, logits.shape, _Filler(logits))
    hit[:] = 0  # copy-on-write: torch may get a writable array without a warning, the cache stays intact
    again, _ = cached_teacher_logits(tmp_path, KEY, logits.shape, _Filler(logits))
    assert np.array_equal(again, logits)


def test_a_changed_key_is_a_new_entry(tmp_path: Path) -> None:
    fill = _Filler(np.zeros((2, 2), np.float32))
    cached_teacher_logits(tmp_path, KEY, (2, 2), fill)
    other = {**KEY, "teacher": "another-teacher"}
    assert cached_teacher_logits(tmp_path, other, (2, 2), fill)[1] == "miss"
    assert fill.calls == 2


def test_off_without_a_directory() -> None:
    fill = _Filler(np.ones((1, 1), np.float32))
    assert cached_teacher_logits(None, KEY, (1, 1), fill)[1] == "off"
    assert cached_teacher_logits(None, KEY, (1, 1), fill)[1] == "off"
    assert fill.calls == 2


def test_an_entry_with_another_stored_key_is_refused(tmp_path: Path) -> None:
    path = _expected_path(tmp_path, KEY)
    np.save(path, np.zeros((3, 3), np.float32))
    path.with_suffix(".json").write_text(json.dumps({"key": {**KEY, "dataset": "other-data"}, "shape": [3, 3]}))
    fill = _Filler(np.ones((3, 3), np.float32))
    with pytest.raises(Cnn2GnnError, match="another dataset/teacher") as err:
        cached_teacher_logits(tmp_path, KEY, (3, 3), fill)
    assert str(path) in str(err.value)
    assert fill.calls == 0


def test_an_array_of_another_shape_is_refused(tmp_path: Path) -> None:
    cached_teacher_logits(tmp_path, KEY, (3, 3), _Filler(np.ones((3, 3), np.float32)))
    with pytest.raises(Cnn2GnnError, match=r"corrupt \(it holds float32 \(3, 3\), expected float32 \(4, 3\)\)"):
        cached_teacher_logits(tmp_path, KEY, (4, 3), _Filler(np.ones((4, 3), np.float32)))


@pytest.mark.parametrize("content", [b"not an npy file at all", b"\x93NUMPY\x01\x00truncated"])
def test_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = _expected_path(tmp_path, KEY)
    path.write_bytes(content)
    path.with_suffix(".json").write_text(json.dumps({"key": KEY, "shape": [1, 1]}))
    with pytest.raises(Cnn2GnnError, match="corrupt") as err:
        cached_teacher_logits(tmp_path, KEY, (1, 1), _Filler(np.ones((1, 1), np.float32)))
    assert str(path) in str(err.value)


def test_a_failed_computation_leaves_no_entry_and_an_interrupted_one_is_recomputed(tmp_path: Path) -> None:
    def broken(out: np.ndarray) -> None:
        out[0] = 1.0
        raise Cnn2GnnError("teacher gives non-finite logits")

    with pytest.raises(Cnn2GnnError, match="non-finite"):
        cached_teacher_logits(tmp_path, KEY, (2, 2), broken)
    assert list(tmp_path.iterdir()) == []  # the half-written temporary array is gone
    # An array without its key file is a write that died between the two renames: recomputed, not trusted.
    np.save(_expected_path(tmp_path, KEY), np.full((2, 2), 9.0, np.float32))
    logits, status = cached_teacher_logits(tmp_path, KEY, (2, 2), _Filler(np.ones((2, 2), np.float32)))
    assert status == "miss" and np.array_equal(logits, np.ones((2, 2), np.float32))


def test_listing_describes_entries_and_removal_takes_the_key_file_too(tmp_path: Path) -> None:
    cached_teacher_logits(tmp_path, KEY, (5, 4), _Filler(np.ones((5, 4), np.float32)))
    (tmp_path / "teacher-logits-old.npz").write_bytes(b"PK old format")
    files = teacher_cache_files(tmp_path)
    assert [p.suffix for p in files] == [".npy", ".npz"]
    entry, old = (describe_teacher_cache(p) for p in files)
    assert entry["shape"] == [5, 4] and entry["split"] == "train" and "problem" not in entry
    assert "old-format" in old["problem"]
    for path in files:
        remove_teacher_cache_entry(path)
    assert list(tmp_path.iterdir()) == []
