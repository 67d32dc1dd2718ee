"""Issue 11: bad models and model-like inputs get a one-line error naming the file and the fix."""

from __future__ import annotations

import json

import numpy as np

from cnn2gnn.contracts.metadata import METADATA_KEY, ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing
from tests._onnx_files import save_test_onnx
from tests.commands._bad_input import digests, linear_model, run_cli


def _reshape_model(path, declared_hw: int):
    """Reshape(images, [0, 64]) -> Gemm, as the exporter lays out an 8x8 gray student, declared at another size."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "shape"], ["flat"]),
         helper.make_node("Gemm", ["flat", "W", "b"], ["logits"], transB=1)],
        "edited", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 1, declared_hw, declared_hw])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[numpy_helper.from_array(np.array([0, 64], np.int64), "shape"),
                     numpy_helper.from_array(np.zeros((10, 64), np.float32), "W"),
                     numpy_helper.from_array(np.zeros(10, np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save_test_onnx(model, path, None)


def test_check_of_a_folder_says_it_is_a_folder(tmp_path, monkeypatch, capsys):
    code, err = run_cli(["check", tmp_path], monkeypatch, capsys)
    assert code == 1
    assert err == f"error: {tmp_path} is a folder, not an ONNX model; give the path of the .onnx file inside it\n"


def test_evaluate_of_a_folder_or_a_missing_model_says_so(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    code, err = run_cli(["evaluate", folder], monkeypatch, capsys)
    assert (code, err) == (1, f"error: model file {folder} is a folder; give the model file in it (.onnx, or an engine)\n")
    code, err = run_cli(["evaluate", tmp_path / "missing.onnx"], monkeypatch, capsys)
    assert (code, err) == (1, f"error: model file {tmp_path / 'missing.onnx'} does not exist\n")


def test_check_fails_a_model_whose_input_was_edited_past_its_reshape(tmp_path, monkeypatch, capsys):
    assert run_cli(["check", _reshape_model(tmp_path / "ok.onnx", 8)], monkeypatch, capsys)[0] == 0
    edited = _reshape_model(tmp_path / "edited.onnx", 16)
    before = digests(edited)
    code, _ = run_cli(["check", edited], monkeypatch, capsys)
    assert code == 2  # the finding itself: test_check_report_names_the_reshape_and_the_fix
    assert digests(edited) == before


def test_check_report_names_the_reshape_and_the_fix(tmp_path):
    from cnn2gnn.export.tensorrt_compat import check_tensorrt_compatibility

    report = check_tensorrt_compatibility(_reshape_model(tmp_path / "edited.onnx", 16))
    [finding] = [f for f in report["findings"] if f["level"] == "error"]
    assert report["verdict"] == "incompatible" and finding["code"] == "reshape-size"
    assert "Reshape to [0, 64] cannot hold its input of shape ['batch', 1, 16, 16]" in finding["message"]
    assert "Re-export the model with `cnn2gnn export`" in finding["message"]


def test_build_says_the_input_is_bad_before_asking_for_tensorrt(tmp_path, monkeypatch, capsys):
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("not a model")
    foreign = _reshape_model(tmp_path / "foreign.onnx", 8)  # valid ONNX without cnn2gnn metadata
    cases = {tmp_path / "missing.onnx": "does not exist", tmp_path: "is a folder, not an ONNX model",
             not_onnx: "is corrupt, truncated or not an ONNX model", foreign: "no cnn2gnn metadata"}
    for path, message in cases.items():
        code, err = run_cli(["build", path], monkeypatch, capsys)
        assert code == 1 and message in err and str(path) in err and "TensorRT is not" not in err, err
    assert not_onnx.read_text() == "not a model"


def test_a_model_passed_as_calibration_set_is_not_called_corrupt(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    before = digests(tmp_path)
    code, err = run_cli(["calibrate", model, "-o", tmp_path / "x.onnx", "--data", "digits", "--calibration-set", model,
                         "--latency-iterations", "0"], monkeypatch, capsys)
    assert code == 1
    assert f"error: {model} is not a calibration set (not a .npz archive); pass the .npz `cnn2gnn calibrate` " \
           "wrote" in err
    assert "delete" not in err and "corrupt" not in err
    assert digests(tmp_path) == before


def test_compare_on_a_dataset_with_other_classes_says_counts_and_first_difference(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx", classes=[str(i) for i in range(201)])
    code, err = run_cli(["compare", model, model, "--data", "digits"], monkeypatch, capsys)
    assert code == 1
    assert "dataset vs models: 10 vs 201 classes; the first difference is class 10: none vs '10'" in err


def test_compare_models_of_other_classes_says_counts_and_first_difference(tmp_path, monkeypatch, capsys):
    a = linear_model(tmp_path / "a.onnx", classes=["cat", "dog"])
    b = linear_model(tmp_path / "b.onnx", classes=["cat", "cow", "dog"])
    code, err = run_cli(["compare", a, b, "--data", "digits"], monkeypatch, capsys)
    assert code == 1 and "(2 vs 3 classes; the first difference is class 1: 'dog' vs 'cow')" in err


def test_a_model_with_metadata_of_a_newer_format_says_so(tmp_path, monkeypatch, capsys):
    from tests.runtime._onnx_models import write_linear_onnx

    meta = ModelMetadata(kind="teacher", class_names=["a", "b"],
                         preprocessing=Preprocessing(height=2, width=2, channels=1, mean=(0.5,), std=(0.5,)))
    path = write_linear_onnx(tmp_path / "new.onnx", np.zeros((2, 4), np.float32), np.zeros(2, np.float32), None,
                             input_chw=(1, 2, 2))
    import onnx

    model = onnx.load(str(path))
    newer = {**meta.to_dict(), "format": "cnn2gnn-model/2"}
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(newer)})
    onnx.save(model, str(path))
    code, err = run_cli(["bench", path, "--batch-sizes", "1"], monkeypatch, capsys)
    assert code == 1
    assert "its metadata is format 'cnn2gnn-model/2', this cnn2gnn" in err and "pip install -U cnn2gnn" in err
