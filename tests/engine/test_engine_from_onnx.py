"""The parts of engine_from_onnx that run before and after TensorRT: output files and early refusals."""

import os

import pytest

from cnn2gnn.contracts.atomic_io import sha256_bytes
from cnn2gnn.contracts.engine_sidecar import read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.engine.engine_from_onnx import engine_from_onnx, write_engine_files
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available
from tests.engine._engines import sample_sidecar


def test_engine_and_sidecar_are_written_together(tmp_path):
    engine = tmp_path / "m.engine"
    write_engine_files(engine, b"plan", sample_sidecar(engine_sha256=sha256_bytes(b"plan")))
    assert engine.read_bytes() == b"plan"
    assert read_engine_sidecar(engine).engine_sha256 == sha256_bytes(b"plan")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.engine", "m.engine.json"]


def test_a_failed_rewrite_keeps_the_old_engine_and_sidecar_pair(tmp_path, monkeypatch):
    engine = tmp_path / "m.engine"
    write_engine_files(engine, b"old plan", sample_sidecar(engine_sha256=sha256_bytes(b"old plan")))
    calls = []

    def fails_on_the_sidecar(fd):
        calls.append(fd)
        if len(calls) == 2:  # the new engine is on disk (as a temporary), its sidecar is not
            raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fails_on_the_sidecar)
    with pytest.raises(OSError, match="disk full"):
        write_engine_files(engine, b"new plan", sample_sidecar(engine_sha256=sha256_bytes(b"new plan")))
    assert engine.read_bytes() == b"old plan"
    assert read_engine_sidecar(engine).engine_sha256 == sha256_bytes(b"old plan")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.engine", "m.engine.json"]


def test_interrupted_engine_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_engine_files(tmp_path / "m.engine", b"plan" * 1000, sample_sidecar())
    assert list(tmp_path.iterdir()) == []


def test_tiny_workspace_is_refused_before_anything_else(linear_onnx):
    with pytest.raises(Cnn2GnnError, match="at least 1 MiB"):
        engine_from_onnx(linear_onnx, workspace_bytes=1024)


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
def test_without_tensorrt_the_build_says_how_to_install(linear_onnx, tmp_path):
    with pytest.raises(Cnn2GnnError, match="TensorRT is not installed"):
        engine_from_onnx(linear_onnx, tmp_path)
    assert list(tmp_path.iterdir()) == []


def _calibration_set(path, n=20, shape=(1, 8, 8), preprocessing=None, made_for=None):
    import numpy as np

    from cnn2gnn.contracts.calibration_set import save_calibration_set
    from tests.engine._onnx_models import SPEC

    key = {"dataset": "digits", "count": n, "preprocessing": (preprocessing or SPEC).to_dict()}
    if made_for is not None:
        key.update(model_hash_of="onnx", model_sha256=made_for)
    return save_calibration_set(path, np.zeros((n, *shape), np.float32), key)


def test_calibration_set_is_batched_and_keyed(linear_onnx, tmp_path):
    from cnn2gnn.contracts.trt_version import parse_trt_version
    from cnn2gnn.engine.engine_from_onnx import load_build_calibration
    from cnn2gnn.engine.onnx_facts import read_onnx_facts

    facts = read_onnx_facts(linear_onnx)
    calibration = load_build_calibration(_calibration_set(tmp_path / "set.npz"), facts, parse_trt_version("10.3.0"), 8)
    assert calibration.batches.batch_shape == (8, 1, 8, 8) and calibration.batches.num_samples_dropped == 4
    assert calibration.cache_key["source_onnx_sha256"] == facts.sha256
    assert calibration.cache_key["tensorrt_version"] == "10.3.0"
    other = load_build_calibration(tmp_path / "set.npz", facts, parse_trt_version("10.14.1"), 8)
    assert other.key_sha256 != calibration.key_sha256  # a new TensorRT gets a new calibration cache


def test_calibration_set_for_another_input_size_is_refused(linear_onnx, tmp_path):
    from cnn2gnn.contracts.trt_version import parse_trt_version
    from cnn2gnn.engine.engine_from_onnx import load_build_calibration
    from cnn2gnn.engine.onnx_facts import read_onnx_facts

    path = _calibration_set(tmp_path / "set.npz", shape=(1, 16, 16))
    with pytest.raises(Cnn2GnnError, match=r"shape \(1, 16, 16\).*takes \(1, 8, 8\)"):
        load_build_calibration(path, read_onnx_facts(linear_onnx), parse_trt_version("10.3.0"), 8)


def test_calibration_set_with_other_preprocessing_is_refused(linear_onnx, tmp_path):
    from cnn2gnn.contracts.preprocessing import Preprocessing
    from cnn2gnn.contracts.trt_version import parse_trt_version
    from cnn2gnn.engine.engine_from_onnx import load_build_calibration
    from cnn2gnn.engine.onnx_facts import read_onnx_facts

    other = Preprocessing(height=8, width=8, channels=1, mean=(0.1307,), std=(0.3081,))
    path = _calibration_set(tmp_path / "set.npz", preprocessing=other)
    with pytest.raises(Cnn2GnnError, match="preprocessed differently"):
        load_build_calibration(path, read_onnx_facts(linear_onnx), parse_trt_version("10.3.0"), 8)


def test_calibration_set_made_for_another_model_is_refused(linear_onnx, qdq_onnx, tmp_path):
    from cnn2gnn.contracts.atomic_io import sha256_file
    from cnn2gnn.contracts.trt_version import parse_trt_version
    from cnn2gnn.engine.engine_from_onnx import load_build_calibration
    from cnn2gnn.engine.onnx_facts import read_onnx_facts

    facts, version = read_onnx_facts(linear_onnx), parse_trt_version("10.3.0")
    own = _calibration_set(tmp_path / "own.npz", made_for=sha256_file(linear_onnx))
    assert load_build_calibration(own, facts, version, 8).batches.num_batches == 2
    other = _calibration_set(tmp_path / "other.npz", made_for=sha256_file(qdq_onnx))
    with pytest.raises(Cnn2GnnError, match="made for another model"):
        load_build_calibration(other, facts, version, 8)
