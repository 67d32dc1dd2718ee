import pytest

from cnn2gnn.engine.triton_repo import triton_config_pbtxt, write_triton_repo
from cnn2gnn.contracts.errors import Cnn2GnnError
from tests.engine._engines import sample_sidecar


def test_config_for_a_dynamic_batch_engine():
    text = triton_config_pbtxt("student", "images", [-1, 1, 8, 8], "logits", [-1, 10])
    assert 'name: "student"' in text
    assert 'platform: "tensorrt_plan"' in text
    assert "max_batch_size: 0" in text
    assert 'name: "images"' in text and "dims: [ -1, 1, 8, 8 ]" in text
    assert 'name: "logits"' in text and "dims: [ -1, 10 ]" in text
    assert text.count("TYPE_FP32") == 2
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")


def test_model_names_are_checked():
    with pytest.raises(Cnn2GnnError, match="Triton model name"):
        triton_config_pbtxt("my model", "images", [-1, 1, 8, 8], "logits", [-1, 10])


def test_repository_layout(tmp_path):
    engine = tmp_path / "student.engine"
    engine.write_bytes(b"serialized plan bytes")
    folder = write_triton_repo(tmp_path / "repo", "student", engine, sample_sidecar())
    assert folder == tmp_path / "repo" / "student"
    assert (folder / "1" / "model.plan").read_bytes() == b"serialized plan bytes"
    config = (folder / "config.pbtxt").read_text()
    assert "dims: [ -1, 1, 8, 8 ]" in config and "dims: [ -1, 10 ]" in config


def test_fixed_profile_gives_fixed_dims(tmp_path):
    engine = tmp_path / "student.engine"
    engine.write_bytes(b"plan")
    sidecar = sample_sidecar(batch_profile={"min": 4, "opt": 4, "max": 4}, input_shape=[4, 1, 8, 8])
    config = (write_triton_repo(tmp_path / "repo", "s", engine, sidecar) / "config.pbtxt").read_text()
    assert "dims: [ 4, 1, 8, 8 ]" in config and "dims: [ 4, 10 ]" in config
