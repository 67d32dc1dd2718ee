import json
import os

import pytest

from cnn2gnn.calibration.tensorrt_calibration_cache import (
    calibration_cache_key,
    calibration_cache_key_path,
    read_calibration_cache,
    write_calibration_cache,
)
from cnn2gnn.contracts.errors import Cnn2GnnError

CACHE = b"TRT-100300-EntropyCalibration2\nimages: 3c010a14\nlogits: 3d5a1b2c\n"


def key(**changes):
    args = dict(
        source_onnx_sha256="a" * 64,
        calibration_set_key={"dataset": "digits", "count": 512, "preprocessing": {"height": 8}},
        batch_shape=(8, 1, 8, 8),
        tensorrt_version="10.3.0",
    )
    args.update(changes)
    return calibration_cache_key(**args)


def test_round_trip(tmp_path):
    path = tmp_path / "student.calib"
    write_calibration_cache(path, CACHE, key())
    assert path.read_bytes() == CACHE  # TensorRT's bytes untouched: trtexec --calib reads the same file
    record = json.loads(calibration_cache_key_path(path).read_text())
    assert record["cache_size"] == len(CACHE)
    assert read_calibration_cache(path, key()) == CACHE


def test_no_cache_yet_means_calibrate(tmp_path):
    assert read_calibration_cache(tmp_path / "missing.calib", key()) is None


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"source_onnx_sha256": "b" * 64}, "source_onnx_sha256"),
        (
            {"calibration_set_key": {"dataset": "digits", "count": 256, "preprocessing": {"height": 8}}},
            "calibration_set",
        ),
        ({"batch_shape": (16, 1, 8, 8)}, "batch_shape"),
        ({"tensorrt_version": "10.14.1"}, "tensorrt_version"),
    ],
)
def test_mismatched_key_is_refused_with_the_field_named(tmp_path, changes, field):
    path = tmp_path / "student.calib"
    write_calibration_cache(path, CACHE, key())
    with pytest.raises(
        Cnn2GnnError, match=rf"made for another build \({field}: cache has .*refusing to reuse.*--force"
    ):
        read_calibration_cache(path, key(**changes))


def test_cache_without_key_file_is_refused(tmp_path):
    path = tmp_path / "from_elsewhere.calib"
    path.write_bytes(CACHE)
    with pytest.raises(Cnn2GnnError, match="no key file"):
        read_calibration_cache(path, key())


def test_cache_edited_after_its_key_is_refused(tmp_path):
    path = tmp_path / "student.calib"
    write_calibration_cache(path, CACHE, key())
    path.write_bytes(CACHE.replace(b"3c010a14", b"3c010a15"))
    with pytest.raises(Cnn2GnnError, match="changed after its key"):
        read_calibration_cache(path, key())


def test_corrupt_key_file_is_refused(tmp_path):
    path = tmp_path / "student.calib"
    write_calibration_cache(path, CACHE, key())
    calibration_cache_key_path(path).write_text("[]")
    with pytest.raises(Cnn2GnnError, match="not a cnn2gnn calibration cache key"):
        read_calibration_cache(path, key())


def test_tuples_and_lists_compare_equal(tmp_path):
    path = tmp_path / "student.calib"
    write_calibration_cache(path, CACHE, key(calibration_set_key={"shape": (512, 1, 8, 8)}))
    assert read_calibration_cache(path, key(calibration_set_key={"shape": [512, 1, 8, 8]})) == CACHE


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "student.calib"

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(Cnn2GnnError, match="No space left on device.*unchanged"):
        write_calibration_cache(path, CACHE, key())
    assert list(tmp_path.iterdir()) == []


def test_overwrite_failure_keeps_the_old_cache_and_key_consistent(tmp_path, monkeypatch):
    path = tmp_path / "student.calib"
    write_calibration_cache(path, CACHE, key())
    real_replace = os.replace

    def fail_on_key(src, dst):
        if str(dst).endswith(".json"):
            raise OSError("interrupted")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_key)
    with pytest.raises(OSError):
        write_calibration_cache(path, b"new cache bytes", key(tensorrt_version="10.14.1"))
    monkeypatch.undo()
    # New cache bytes landed but their key did not: the pair no longer matches, and that is refused.
    with pytest.raises(Cnn2GnnError, match="changed after its key"):
        read_calibration_cache(path, key())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.calib", "student.calib.json"]
