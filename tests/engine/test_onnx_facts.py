import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.engine.onnx_facts import read_onnx_facts
from tests.engine._onnx_models import tiny_metadata, write_linear_onnx


def test_fp32_model(linear_onnx):
    facts = read_onnx_facts(linear_onnx)
    assert (facts.input_name, facts.output_name) == ("images", "logits")
    assert facts.input_shape == (-1, 1, 8, 8)
    assert not facts.is_qdq and not facts.is_fp16 and facts.inspected_graph
    assert facts.metadata.kind == "student" and len(facts.sha256) == 64


def test_qdq_model(qdq_onnx):
    facts = read_onnx_facts(qdq_onnx)
    assert facts.is_qdq and not facts.is_fp16


def test_fp16_model(fp16_onnx):
    facts = read_onnx_facts(fp16_onnx)
    assert facts.is_fp16 and not facts.is_qdq


def test_static_batch_is_read(tmp_path):
    facts = read_onnx_facts(write_linear_onnx(tmp_path / "static.onnx", tiny_metadata(), batch=4))
    assert facts.input_shape == (4, 1, 8, 8)


def test_metadata_from_the_sidecar_when_not_embedded(tmp_path):
    path = write_linear_onnx(tmp_path / "m.onnx", tiny_metadata(), embed=False, sidecar=True)
    assert read_onnx_facts(path).metadata.class_names == tiny_metadata().class_names


def test_model_without_metadata_is_refused(tmp_path):
    path = write_linear_onnx(tmp_path / "bare.onnx", None)
    with pytest.raises(Cnn2GnnError, match="no cnn2gnn metadata.*cnn2gnn export"):
        read_onnx_facts(path)


@pytest.mark.parametrize("qdq, precision", [(False, "int8-qdq"), (True, "fp32")])
def test_metadata_contradicting_the_graph_is_refused(tmp_path, qdq, precision):
    path = write_linear_onnx(tmp_path / "m.onnx", tiny_metadata(precision), qdq=qdq)
    with pytest.raises(Cnn2GnnError, match="QuantizeLinear/DequantizeLinear"):
        read_onnx_facts(path)


def test_names_contradicting_the_metadata_are_refused(tmp_path):
    meta = tiny_metadata()
    meta.output_name = "scores"
    with pytest.raises(Cnn2GnnError, match="'logits'.*'scores'"):
        read_onnx_facts(write_linear_onnx(tmp_path / "m.onnx", meta))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(Cnn2GnnError, match="does not exist"):
        read_onnx_facts(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01not a protobuf" * 10)
    with pytest.raises(Cnn2GnnError, match="junk.onnx"):
        read_onnx_facts(tmp_path / "junk.onnx")
