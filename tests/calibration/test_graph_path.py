"""The graph path is found by structure (TopK and its exclusive producers/consumers), not by node names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cnn2gnn.calibration.graph_path import constant_tensors, ensure_node_names, find_graph_path


def _by_name(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {n.name: n for n in model.graph.node}


def _weight_rows(model: onnx.ModelProto, node: onnx.NodeProto) -> int:
    inits = {i.name: i for i in model.graph.initializer}
    return inits[node.input[1]].dims[0]


def test_student_graph_path_runs_from_projection_to_neighbour_weights(tiny_student_onnx: Path) -> None:
    model = onnx.load(str(tiny_student_onnx))
    ensure_node_names(model)
    path = find_graph_path(model)
    nodes = _by_name(model)
    on_path = set(path.nodes)
    assert len(path.topk_nodes) == 1 and path.topk_nodes[0] in on_path
    producer = {t: n for n in model.graph.node for t in n.output}
    # TopK <- the distances to the anchors (one Gemm) <- the projection (proj_dim=16 rows, the Gemm on the features)
    distances = producer[nodes[path.topk_nodes[0]].input[0]]
    projection = producer[distances.input[0]]
    assert (distances.op_type, projection.op_type, _weight_rows(model, projection)) == ("Gemm", "Gemm", 16)
    assert {distances.name, projection.name} <= on_path
    gcn = [n.name for n in model.graph.node if n.op_type == "Gemm" and n.name not in (distances.name, projection.name)]
    assert len(gcn) == 2 and not set(gcn) & on_path  # hidden=32 and 10 classes: the two GCN layers
    for op in ("Div", "Gather"):
        assert all(n.name in on_path for n in model.graph.node if n.op_type == op), op
    assert "Relu" not in {nodes[n].op_type for n in on_path}
    final = next(n for n in model.graph.node if "logits" in n.output)
    assert final.name not in on_path  # the mix with the sample's own features is quantised
    assert {nodes[n].op_type for n in on_path} >= {"Gemm", "ReduceSum", "Add", "Sub", "TopK", "Slice", "Div",
                                                    "Gather", "Mul"}


def test_path_does_not_depend_on_node_names(tiny_student_onnx: Path) -> None:
    model = onnx.load(str(tiny_student_onnx))
    ensure_node_names(model)
    reference = find_graph_path(model)
    ops = Counter(reference.op_types.values())
    rng = np.random.default_rng(0)
    for i, node in enumerate(model.graph.node):
        node.name = "" if i % 3 == 0 else f"n{rng.integers(1_000_000)}_{i}"
    assert ensure_node_names(model) >= len(model.graph.node) // 3
    assert len({n.name for n in model.graph.node}) == len(model.graph.node)
    renamed = find_graph_path(model)
    assert Counter(renamed.op_types.values()) == ops and len(renamed.nodes) == len(reference.nodes)


def test_a_model_without_topk_has_no_graph_path(tmp_path: Path) -> None:
    from tests.runtime._onnx_models import write_linear_onnx

    path = write_linear_onnx(tmp_path / "linear.onnx", np.ones((3, 4), np.float32), np.zeros(3, np.float32), None,
                             input_chw=(1, 2, 2))
    found = find_graph_path(onnx.load(str(path)))
    assert found.nodes == [] and found.topk_nodes == []


def test_topk_over_constants_is_not_a_neighbour_search() -> None:
    """An unfolded anchor-side TopK (constants only) is no sample's graph; the one over the input is."""
    anchors = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "anchors")
    k = numpy_helper.from_array(np.array([2], dtype=np.int64), "k")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["anchors", "anchors_t"], ["anchor_dist"], name="const_mm"),
            helper.make_node("TopK", ["anchor_dist", "k"], ["av", "ai"], name="const_topk"),
            helper.make_node("MatMul", ["x", "anchors_t"], ["dist"], name="dist_mm"),
            helper.make_node("TopK", ["dist", "k"], ["v", "i"], name="topk"),
            helper.make_node("Gather", ["anchors", "i"], ["g"], name="gather"),
            helper.make_node("ReduceSum", ["g"], ["feat"], name="sum", keepdims=0),
            helper.make_node("Add", ["feat", "x"], ["y"], name="mix"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("av", TensorProto.FLOAT, None)],
        initializer=[anchors, k, numpy_helper.from_array(np.ones((4, 3), np.float32), "anchors_t")],
    )
    model = helper.make_model(graph)
    assert {"anchor_dist", "av", "ai"} <= constant_tensors(model.graph) and "dist" not in constant_tensors(model.graph)
    path = find_graph_path(model)
    assert path.topk_nodes == ["topk"]
    assert path.nodes == ["dist_mm", "topk", "gather", "sum"]  # "mix" also reads x: not on the path
