from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.distill.teacher_cache import _key_hash, cached_teacher_logits, teacher_cache_key

KEY = teacher_cache_key("data-fp", {"height": 16, "mean": [0.5]}, "teacher-sha", "train")


class _Counter:
    def __init__(self, logits: np.ndarray) -> None:
        self.logits, self.calls = logits, 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.logits


def _expected_path(cache_dir: Path, key: dict) -> Path:
    return cache_dir / f"teacher-logits-{_key_hash(key)}.npz"


def test_miss_then_hit(tmp_path: Path) -> None:
    logits = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    compute = _Counter(logits)
    first, status1 = cached_teacher_logits(tmp_path, KEY, compute)
    second, status2 = cached_teacher_logits(tmp_path, KEY, compute)
    assert (status1, status2) == ("miss", "hit")
    assert compute.calls == 1
    assert np.array_equal(first, logits) and np.array_equal(second, logits) and second.dtype == np.float32
    assert [p.name for p in tmp_path.iterdir()] == [_expected_path(tmp_path, KEY).name]  # no temp files left


def test_a_changed_key_is_a_new_entry(tmp_path: Path) -> None:
    compute = _Counter(np.zeros((2, 2), np.float32))
    cached_teacher_logits(tmp_path, KEY, compute)
    other = {**KEY, "teacher": "another-teacher"}
    assert cached_teacher_logits(tmp_path, other, compute)[1] == "miss"
    assert compute.calls == 2


def test_off_without_a_directory() -> None:
    compute = _Counter(np.ones((1, 1), np.float32))
    assert cached_teacher_logits(None, KEY, compute)[1] == "off"
    assert cached_teacher_logits(None, KEY, compute)[1] == "off"
    assert compute.calls == 2


def test_file_with_another_stored_key_is_refused(tmp_path: Path) -> None:
    path = _expected_path(tmp_path, KEY)
    wrong = {**KEY, "dataset": "other-data"}
    buf = io.BytesIO()
    np.savez(buf, logits=np.zeros((3, 3), np.float32), key=np.array(json.dumps(wrong, sort_keys=True)))
    path.write_bytes(buf.getvalue())
    compute = _Counter(np.ones((3, 3), np.float32))
    with pytest.raises(Cnn2GnnError, match="another dataset/teacher") as err:
        cached_teacher_logits(tmp_path, KEY, compute)
    assert str(path) in str(err.value)
    assert compute.calls == 0


@pytest.mark.parametrize("content", [b"not an npz file at all", b"PK\x03\x04truncated zip"])
def test_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = _expected_path(tmp_path, KEY)
    path.write_bytes(content)
    with pytest.raises(Cnn2GnnError, match="corrupt") as err:
        cached_teacher_logits(tmp_path, KEY, _Counter(np.ones((1, 1), np.float32)))
    assert str(path) in str(err.value)
