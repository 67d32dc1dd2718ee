"""The static TensorRT check: exported models pass; each deliberately incompatible model fails for its own reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.export.tensorrt_compat import check_tensorrt_compatibility, format_compat_report

runner = CliRunner()
FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes, inputs, outputs, initializers=(), opset: int = 17, domains=()):
    graph = helper.make_graph(nodes, "probe", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *(helper.make_opsetid(d, 1) for d in domains)])
    model.ir_version = 8
    return model


def _x(shape=("N", 8)):
    return helper.make_tensor_value_info("x", FLOAT, list(shape))


def _i64(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["level"] == "error"]


INCOMPATIBLE = {
    "nonzero": (
        lambda: _model([helper.make_node("NonZero", ["x"], ["y"], name="nz")], [_x()],
                       [helper.make_tensor_value_info("y", INT64, [2, "M"])]),
        "unsupported-op", "NonZero", "data",
    ),
    "unique": (
        lambda: _model([helper.make_node("Unique", ["x"], ["y"], name="uq")], [_x(("N",))],
                       [helper.make_tensor_value_info("y", FLOAT, ["M"])]),
        "unsupported-op", "Unique", "Unique",
    ),
    "topk_k_is_a_graph_input": (
        lambda: _model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk")],
                       [_x(), helper.make_tensor_value_info("k", INT64, [1])],
                       [helper.make_tensor_value_info("v", FLOAT, ["N", "K"]),
                        helper.make_tensor_value_info("i", INT64, ["N", "K"])]),
        "topk-k-not-constant", "TopK", "K",
    ),
    "topk_k_5000": (
        lambda: _model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="topk")], [_x(("N", 8000))],
                       [helper.make_tensor_value_info("v", FLOAT, ["N", 5000]),
                        helper.make_tensor_value_info("i", INT64, ["N", 5000])], [_i64("k", [5000])]),
        "topk-k-too-large", "TopK", "K=5000",
    ),
    "scatter_elements_add": (
        lambda: _model([helper.make_node("ScatterElements", ["x", "idx", "upd"], ["y"], axis=1, reduction="add",
                                         name="scatter")],
                       [_x((2, 8))], [helper.make_tensor_value_info("y", FLOAT, [2, 8])],
                       [_i64("idx", [[0, 1], [2, 3]]), numpy_helper.from_array(np.ones((2, 2), np.float32), "upd")]),
        "scatter-reduction", "ScatterElements", "reduction='add'",
    ),
    "reduce_sum_axes_is_an_input": (
        lambda: _model([helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="rsum")],
                       [_x(), helper.make_tensor_value_info("axes", INT64, [1])],
                       [helper.make_tensor_value_info("y", FLOAT, ["A", "B"])]),
        "axes-not-constant", "ReduceSum", "axes",
    ),
    "custom_domain": (
        lambda: _model([helper.make_node("FusedGemm", ["x", "x"], ["y"], domain="com.microsoft", name="fg")],
                       [_x((8, 8))], [helper.make_tensor_value_info("y", FLOAT, [8, 8])], domains=("com.microsoft",)),
        "custom-domain-op", "FusedGemm", "com.microsoft",
    ),
}


@pytest.mark.parametrize("case", sorted(INCOMPATIBLE))
def test_incompatible_models_are_rejected_for_the_right_reason(case: str) -> None:
    build, code, op, detail = INCOMPATIBLE[case]
    model = build()
    report = check_tensorrt_compatibility(model, source=case)
    assert report["verdict"] == "incompatible" and report["exit_code"] == 2
    errors = _errors(report)
    assert [(e["code"], e["op"]) for e in errors] == [(code, op)], errors  # that reason, and only that one
    assert op in errors[0]["message"] and detail in errors[0]["message"]
    assert "verdict: incompatible" in format_compat_report(report)


def test_topk_k_from_a_constant_node_is_accepted() -> None:
    model = _model([helper.make_node("Constant", [], ["k"], value=_i64("kv", [6])),
                    helper.make_node("TopK", ["x", "k"], ["v", "i"], largest=0)],
                   [_x()], [helper.make_tensor_value_info("v", FLOAT, ["N", 6])])
    report = check_tensorrt_compatibility(model)
    assert report["verdict"] == "compatible", report["findings"]
    assert report["topk"] == [{"node": "v", "k": 6, "constant": True}]


def test_int64_boundary_and_dynamic_non_batch_dims_are_warnings() -> None:
    model = _model([helper.make_node("Cast", ["x"], ["y"], to=INT64)], [_x(("N", "W"))],
                   [helper.make_tensor_value_info("y", INT64, ["N", "W"])])
    report = check_tensorrt_compatibility(model)
    assert report["verdict"] == "compatible with warnings" and report["exit_code"] == 0
    codes = {f["code"] for f in report["findings"] if f["level"] == "warning"}
    assert codes == {"int64-output", "dynamic-dim"}
    assert report["inputs"][0]["dynamic_dims"] == [0, 1]


def test_int64_constants_beyond_int32_warn_but_slice_sentinels_do_not() -> None:
    big = _i64("big", [2**40])
    model = _model([helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"]),
                    helper.make_node("Shape", ["s"], ["shape"]),
                    helper.make_node("Add", ["shape", "big"], ["y"])],
                   [_x()], [helper.make_tensor_value_info("y", INT64, [2])],
                   [_i64("starts", [1]), _i64("ends", [2**63 - 1]), _i64("axes", [1]), big])
    report = check_tensorrt_compatibility(model)
    assert report["int64"]["out_of_int32_range"] == ["big"]
    assert report["verdict"] == "compatible with warnings"


@pytest.mark.parametrize("fixture", ["exported_teacher", "exported_student"])
def test_exported_models_are_compatible(fixture: str, request: pytest.FixtureRequest) -> None:
    path = Path(request.getfixturevalue(fixture)["output"])
    report = check_tensorrt_compatibility(path)
    assert report["verdict"] == "compatible" and report["exit_code"] == 0, report["findings"]
    assert report["opset"] == 17 and report["cnn2gnn_metadata"]
    assert report["inputs"] == [{"name": "images", "dtype": "float32", "shape": ["batch", 1, 16, 16],
                                 "dynamic_dims": [0]}]
    if fixture == "exported_student":
        assert [t["k"] for t in report["topk"]] == [6]  # k + 1 for k=5
        # the extra outputs are at the boundary too: neighbour_index is int32, so no int64-output warning
        assert report["outputs"][1]["name"] == "neighbour_index" and report["outputs"][1]["dtype"] == "int32"
        assert report["int64"]["outputs"] == []


def test_cli_check_exit_codes_and_json(exported_student: dict[str, Any], tmp_path: Path) -> None:
    ok = runner.invoke(app, ["check", exported_student["output"]])
    assert ok.exit_code == 0, ok.output
    assert "verdict: compatible" in ok.stdout and "TopK" in ok.stdout
    bad = tmp_path / "nonzero.onnx"
    onnx.save(INCOMPATIBLE["nonzero"][0](), str(bad))
    rejected = runner.invoke(app, ["check", str(bad), "--json"])
    assert rejected.exit_code == 2
    report = json.loads(rejected.stdout)
    assert report["verdict"] == "incompatible" and report["ops"] == {"NonZero": 1}


def test_a_truncated_file_is_a_user_error_naming_it(exported_teacher: dict[str, Any], tmp_path: Path) -> None:
    from cnn2gnn.contracts.errors import Cnn2GnnError

    data = Path(exported_teacher["output"]).read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(Cnn2GnnError, match=r"cut\.onnx is corrupt, truncated or not an ONNX model"):
        check_tensorrt_compatibility(cut)


def _qdq_model(zero_point: np.ndarray):
    scale = numpy_helper.from_array(np.asarray(0.05, np.float32), "scale")
    zp = numpy_helper.from_array(zero_point, "zp")
    return _model([helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], name="q"),
                   helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dq")],
                  [_x()], [helper.make_tensor_value_info("y", FLOAT, ["N", 8])], [scale, zp])


@pytest.mark.parametrize(("zero_point", "code"), [
    (np.asarray(0, np.int8), None),
    (np.asarray(3, np.int8), "qdq-zero-point"),
    (np.asarray(128, np.uint8), "qdq-type"),
])
def test_qdq_must_be_symmetric_int8(zero_point: np.ndarray, code: str | None) -> None:
    report = check_tensorrt_compatibility(_qdq_model(zero_point))
    errors = _errors(report)
    if code is None:
        assert report["verdict"] == "compatible", report["findings"]
    else:
        assert {(e["code"], e["op"]) for e in errors} == {(code, "QuantizeLinear"), (code, "DequantizeLinear")}
