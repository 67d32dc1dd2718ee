import json

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata, sidecar_path
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.runtime.model_info import metadata_from_sidecar, read_model_metadata
from tests.runtime._onnx_models import write_linear_onnx

W = np.zeros((3, 4), dtype=np.float32)
B = np.zeros(3, dtype=np.float32)


def _meta(names=("a", "b", "c")) -> ModelMetadata:
    return ModelMetadata(kind="student", class_names=list(names),
                         preprocessing=Preprocessing(height=2, width=2, channels=1, mean=(0.1,), std=(0.3,)))


def test_embedded_metadata_is_read_through_onnxruntime_without_a_sidecar(tmp_path):
    path = write_linear_onnx(tmp_path / "m.onnx", W, B, _meta(), sidecar=False)
    assert not sidecar_path(path).exists()
    assert read_model_metadata(path).to_dict() == _meta().to_dict()


def test_sidecar_alone_is_enough(tmp_path):
    path = write_linear_onnx(tmp_path / "m.onnx", W, B, _meta(), embed=False)
    assert read_model_metadata(path).class_names == ["a", "b", "c"]


def test_embedded_copy_wins_over_a_stale_sidecar(tmp_path):
    path = write_linear_onnx(tmp_path / "m.onnx", W, B, _meta())
    sidecar_path(path).write_text(json.dumps(_meta(("x", "y", "z")).to_dict()))
    assert read_model_metadata(path).class_names == ["a", "b", "c"]


def _engine_sidecar(meta: ModelMetadata, precision: str = "fp16"):
    from cnn2gnn.contracts.engine_sidecar import EngineSidecar

    return EngineSidecar(
        tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7", precision=precision,
        batch_profile={"min": 1, "opt": 1, "max": 8}, source_onnx="m.onnx", source_onnx_sha256="0" * 64,
        engine_sha256="1" * 64, input_name="images", input_shape=[-1, 1, 2, 2], output_name="logits",
        model_metadata=meta.to_dict(),
    )


def test_engine_sidecar_gives_the_source_metadata_with_the_engines_precision(tmp_path):
    from cnn2gnn.contracts.engine_sidecar import write_engine_sidecar

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not read here")
    write_engine_sidecar(engine, _engine_sidecar(_meta(), precision="fp16"))
    meta = read_model_metadata(engine)
    assert meta.precision == "fp16"
    assert {**meta.to_dict(), "precision": "fp32"} == _meta().to_dict()


def test_engine_sidecar_without_model_metadata_is_not_a_cnn2gnn_model(tmp_path):
    from cnn2gnn.contracts.engine_sidecar import write_engine_sidecar

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    sidecar = _engine_sidecar(_meta())
    sidecar.model_metadata = {}
    write_engine_sidecar(engine, sidecar)
    with pytest.raises(Cnn2GnnError, match="not made by cnn2gnn export"):
        read_model_metadata(engine)
    assert metadata_from_sidecar(engine) is None


def test_a_model_without_cnn2gnn_metadata_is_rejected_by_name(tmp_path):
    path = write_linear_onnx(tmp_path / "plain.onnx", W, B, None, input_chw=(1, 2, 2))
    with pytest.raises(Cnn2GnnError, match="not made by cnn2gnn export"):
        read_model_metadata(path)


def test_sidecar_without_metadata_and_no_embedded_copy_is_rejected(tmp_path):
    path = write_linear_onnx(tmp_path / "plain.onnx", W, B, None, input_chw=(1, 2, 2))
    sidecar_path(path).write_text(json.dumps({"something": "else"}))
    with pytest.raises(Cnn2GnnError, match="not made by cnn2gnn export"):
        read_model_metadata(path)


def test_corrupt_sidecar_names_the_file(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(Cnn2GnnError, match="m.engine.json"):
        read_model_metadata(engine)


def test_file_that_is_not_onnx_is_reported(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(Cnn2GnnError, match="ONNX Runtime cannot open"):
        read_model_metadata(path)


def test_onnx_sidecar_is_used_where_onnxruntime_is_not_installed(tmp_path, monkeypatch):
    path = write_linear_onnx(tmp_path / "m.onnx", W, B, _meta())
    sidecar_path(path).write_text(json.dumps(_meta(("x", "y", "z")).to_dict()))
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    assert read_model_metadata(path).class_names == ["x", "y", "z"]
