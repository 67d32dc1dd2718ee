"""FP16 conversion for TensorRT 11, checked on ONNX Runtime's CPU provider against the FP32 model."""

import numpy as np
import pytest

pytest.importorskip("onnxconverter_common", reason="FP16 conversion needs onnxconverter-common (cnn2gnn[train])")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from cnn2gnn.contracts.metadata import sidecar_path  # noqa: E402
from cnn2gnn.engine.fp16 import distance_path_nodes, fp16_agreement, fp16_onnx_from_fp32, name_unnamed_nodes  # noqa: E402
from cnn2gnn.engine.onnx_facts import read_onnx_facts  # noqa: E402

FLOAT16 = onnx.TensorProto.FLOAT16
FLOAT = onnx.TensorProto.FLOAT
DISTANCE_PATH = ["flatten", "projection", "z_squared", "z_norm", "z_dot_anchors", "twice_dot", "minus_dot", "distances"]


def initializer_types(path):
    return {init.name: init.data_type for init in onnx.load(str(path)).graph.initializer}


def test_distance_path_is_everything_topk_scores_depend_on(anchor_onnx):
    assert distance_path_nodes(onnx.load(str(anchor_onnx))) == DISTANCE_PATH


def test_unnamed_nodes_get_unique_names(linear_onnx):
    model = onnx.load(str(linear_onnx))
    name_unnamed_nodes(model)
    names = [node.name for node in model.graph.node]
    assert all(names) and len(set(names)) == len(names)


@pytest.fixture(scope="module")
def exported_like(anchor_onnx, tmp_path_factory):
    """The anchor model with value_info for every intermediate and initializer, as torch.onnx writes it."""
    from onnx import helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(anchor_onnx)))
    for init in model.graph.initializer:
        model.graph.value_info.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    path = tmp_path_factory.mktemp("exported") / "anchor.onnx"
    onnx.save(model, str(path))
    (path.parent / "anchor.onnx.json").write_text((anchor_onnx.parent / "anchor.onnx.json").read_text())
    return path


@pytest.fixture(scope="module")
def converted(exported_like, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp16") / "anchor.fp16.onnx"
    with pytest.warns(UserWarning, match="truncated"):  # tiny PCA weights are clamped to FP16's range
        conversion = fp16_onnx_from_fp32(exported_like, out)
    return out, conversion


def topk_indices(path, x):
    """The TopK's neighbour indices, exposed as an extra output."""
    from onnx import helper

    model = onnx.load(str(path))
    topk = next(node for node in model.graph.node if node.op_type == "TopK")
    model.graph.output.append(helper.make_tensor_value_info(topk.output[1], onnx.TensorProto.INT64, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([topk.output[1]], {"images": x})[0]


def test_conversion_keeps_fp32_io_and_the_distance_path(converted):
    path, conversion = converted
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.elem_type == FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == FLOAT
    types = initializer_types(path)
    assert types["own_W"] == types["messages"] == FLOAT16  # the GCN side computes in FP16
    assert types["proj_W"] == types["anchors_T"] == FLOAT  # the neighbour search does not
    assert conversion.kept_fp32_nodes == DISTANCE_PATH and "TopK" in conversion.blocked_ops
    projection = next(node for node in model.graph.node if node.name == "projection")
    assert onnx_producer(model, projection.input[0]).op_type == "Flatten"  # no Cast round trip in between


def onnx_producer(model, tensor):
    return next(node for node in model.graph.node if tensor in node.output)


def test_distance_path_sees_unrounded_fp32(converted, exported_like, digits):
    """No FP16 round trip feeds the kept path, so it finds exactly the FP32 model's neighbours."""
    path, _ = converted
    test_x = digits[2]
    np.testing.assert_array_equal(
        np.sort(topk_indices(path, test_x), 1), np.sort(topk_indices(exported_like, test_x), 1)
    )


def test_converted_model_records_its_precision(converted):
    path, _ = converted
    facts = read_onnx_facts(path)
    assert facts.is_fp16 and facts.metadata.precision == "fp16"
    assert facts.metadata.extra["fp16_conversion"]["kept_fp32_nodes"] == DISTANCE_PATH
    assert sidecar_path(path).is_file()


def test_fp16_matches_fp32_on_digits(anchor_onnx, converted, digits):
    path, _ = converted
    test_x = digits[2]
    report = fp16_agreement(anchor_onnx, path, test_x)
    assert report["samples"] == len(test_x)
    assert report["top1_agreement"] >= 0.99
    ref = ort.InferenceSession(str(anchor_onnx), providers=["CPUExecutionProvider"]).run(None, {"images": test_x})[0]
    assert report["max_abs_logit_diff"] <= 0.01 * np.abs(ref).max()


def test_whole_model_conversion_also_runs(exported_like, tmp_path, digits):
    out = tmp_path / "all.fp16.onnx"
    with pytest.warns(UserWarning):
        conversion = fp16_onnx_from_fp32(exported_like, out, keep_distance_path_fp32=False)
    assert conversion.kept_fp32_nodes == []
    assert initializer_types(out)["anchors_T"] == FLOAT16
    assert fp16_agreement(exported_like, out, digits[2][:64])["top1_agreement"] >= 0.95
