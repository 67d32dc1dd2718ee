from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnn2gnn import __version__
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import METADATA_FORMAT, ModelMetadata, read_sidecar, sidecar_path
from cnn2gnn.contracts.preprocessing import Preprocessing


def _metadata() -> ModelMetadata:
    return ModelMetadata(
        kind="student", class_names=["cat", "dog", "owl"],
        preprocessing=Preprocessing(24, 32, 3, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), "area", "BGR"),
        precision="int8-qdq", graph={"mode": "anchor", "k": 5, "num_anchors": 64},
        source_checkpoint_sha256="ab" * 32, run_config={"lambda": 0.7}, extra={"calibration": {"images": 512}},
    )


def test_json_round_trip() -> None:
    meta = _metadata()
    text = meta.to_json()
    data = json.loads(text)
    assert data["format"] == METADATA_FORMAT and data["cnn2gnn_version"] == __version__
    assert data["input_shape"] == [-1, 3, 24, 32] and data["num_classes"] == 3
    back = ModelMetadata.from_json(text)
    assert back == meta
    assert back.preprocessing == meta.preprocessing and back.graph == {"mode": "anchor", "k": 5, "num_anchors": 64}


def test_foreign_or_future_format_is_refused() -> None:
    data = _metadata().to_dict()
    with pytest.raises(Cnn2GnnError, match="cnn2gnn-model/2") as err:
        ModelMetadata.from_dict({**data, "format": "cnn2gnn-model/2"}, source="m.onnx")
    assert "m.onnx" in str(err.value) and "cnn2gnn export" in str(err.value)
    del data["format"]
    with pytest.raises(Cnn2GnnError, match="not cnn2gnn model metadata"):
        ModelMetadata.from_dict(data)


def test_missing_field_and_bad_json_are_user_errors() -> None:
    data = _metadata().to_dict()
    del data["class_names"]
    with pytest.raises(Cnn2GnnError, match="class_names"):
        ModelMetadata.from_dict(data, source="x.engine")
    with pytest.raises(Cnn2GnnError, match="not valid JSON"):
        ModelMetadata.from_json("{not json", source="x.engine")
    with pytest.raises(Cnn2GnnError, match="malformed"):
        ModelMetadata.from_dict({**_metadata().to_dict(), "preprocessing": {"height": 1}})


def test_sidecar(tmp_path: Path) -> None:
    model = tmp_path / "student.onnx"
    assert sidecar_path(model) == tmp_path / "student.onnx.json"
    assert sidecar_path("a/b.engine") == Path("a/b.engine.json")
    with pytest.raises(Cnn2GnnError, match="sidecar .*student.onnx.json is missing"):
        read_sidecar(model)
    sidecar_path(model).write_text(_metadata().to_json())
    assert ModelMetadata.from_dict(read_sidecar(model)) == _metadata()
    sidecar_path(model).write_text('{"format": ')
    with pytest.raises(Cnn2GnnError, match="corrupt metadata sidecar"):
        read_sidecar(model)



@pytest.mark.parametrize("content, problem", [(b"\xf9\x00\x13garbage", "can't decode byte 0xf9"),
                                              (b"[1, 2]", "a JSON list, expected an object")])
def test_sidecar_that_is_not_utf8_or_not_an_object_is_a_clear_error(tmp_path: Path, content, problem) -> None:
    engine = tmp_path / "m.engine"
    sidecar_path(engine).write_bytes(content)
    with pytest.raises(Cnn2GnnError, match=rf"m\.engine\.json: corrupt metadata sidecar \(.*{problem}.*\); re-export"):
        read_sidecar(engine)

@pytest.mark.parametrize("text, kind", [("[1, 2]", "list"), ('"cnn2gnn"', "str"), ("3", "int"), ("null", "NoneType")])
def test_metadata_that_is_not_a_json_object_is_a_clear_error(text, kind) -> None:
    with pytest.raises(Cnn2GnnError, match=rf"^m.onnx.json: cnn2gnn metadata must be a JSON object, got a JSON "
                                           rf"{kind}; re-export the model with `cnn2gnn export`$"):
        ModelMetadata.from_json(text, source="m.onnx.json")


def test_metadata_of_a_newer_format_version_says_which_release_reads_it() -> None:
    with pytest.raises(Cnn2GnnError, match=r"format 'cnn2gnn-model/2', this cnn2gnn .* reads 'cnn2gnn-model/1'; "
                                           r"use the cnn2gnn release that exported it"):
        ModelMetadata.from_dict({"format": "cnn2gnn-model/2", "kind": "teacher"}, source="m.onnx")


@pytest.mark.parametrize(("edit", "message"), [
    ({"class_names": None}, "the metadata field 'class_names' is null, expected a list"),
    ({"class_names": "cat,dog,owl"}, "the metadata field 'class_names' is a string, expected a list"),
    ({"class_names": ["cat", "", "owl"]}, r"the metadata field 'class_names' must be a list of class names "
                                          r"\(non-empty strings\), one per logit, got \['cat', '', 'owl'\]"),
    ({"class_names": [1, 2, 3]}, r"the metadata field 'class_names' must be a list of class names .*got \[1, 2, 3\]"),
    ({"class_names": []}, r"the metadata field 'class_names' must be a list of class names .*got \[\]"),
    ({"kind": "martian"}, "the metadata's kind 'martian' is unknown, expected one of teacher, student"),
    ({"kind": 1}, "the metadata field 'kind' is an integer, expected a string"),
    ({"num_classes": 10}, "the metadata says num_classes 10 but lists 3 class_names"),
    ({"num_classes": True}, "the metadata field 'num_classes' is true or false, expected an integer"),
    ({"precision": "fp8"}, "the metadata's precision 'fp8' is unknown, expected one of fp32, fp16, int8-qdq, int8"),
    ({"graph": [5]}, "the metadata field 'graph' is a list, expected an object or null"),
    ({"extra": None}, "the metadata field 'extra' is null, expected an object"),
    ({"output_name": None}, "the metadata field 'output_name' is null, expected a string"),
])
def test_a_field_of_the_wrong_type_or_value_names_the_model_and_the_fix(edit: dict, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=rf"^m\.onnx: {message}; the model's metadata is damaged or was edited: "
                                           r"re-export the model with `cnn2gnn export`$"):
        ModelMetadata.from_dict({**_metadata().to_dict(), **edit}, source="m.onnx")


def test_malformed_preprocessing_names_the_model() -> None:
    with pytest.raises(Cnn2GnnError, match=r"^m\.onnx: preprocessing metadata is incomplete or malformed"):
        ModelMetadata.from_dict({**_metadata().to_dict(), "preprocessing": {"height": 1}}, source="m.onnx")

