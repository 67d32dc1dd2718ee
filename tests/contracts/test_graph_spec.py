from __future__ import annotations

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import TENSORRT_TOPK_LIMIT, GraphSpec, min_graph_nodes, topk_size


def test_the_closed_form_takes_k_plus_1_and_a_graph_needs_k_plus_2_nodes() -> None:
    spec = GraphSpec(mode="anchor", k=5, num_anchors=64)
    assert (spec.topk_k, spec.min_nodes) == (topk_size(5), min_graph_nodes(5)) == (6, 7)
    assert spec.min_batch == 1 and GraphSpec("batch", 5, 64).min_batch == 7  # only the batch graph needs a batch


def test_the_largest_k_tensorrt_takes_is_one_below_its_topk_limit() -> None:
    assert TENSORRT_TOPK_LIMIT == 3840
    assert GraphSpec("anchor", TENSORRT_TOPK_LIMIT - 1, TENSORRT_TOPK_LIMIT + 1).topk_k == TENSORRT_TOPK_LIMIT
    with pytest.raises(Cnn2GnnError, match=r"k=3840 needs TopK with K=k\+1=3841, above TensorRT's limit of 3840"):
        GraphSpec("anchor", TENSORRT_TOPK_LIMIT, TENSORRT_TOPK_LIMIT + 2)


@pytest.mark.parametrize(
    ("mode", "k", "m", "match"),
    [("knn", 3, 8, r"graph mode \(--graph-mode\) 'knn' unknown"),
     ("anchor", 0, 8, r"k \(-k\), the neighbours per sample, must be at least 1"),
     ("anchor", 3, 4, r"needs at least k\+2=5 anchors \(--anchors\), got 4")],
)
def test_invalid_specs_are_refused(mode: str, k: int, m: int, match: str) -> None:
    with pytest.raises(Cnn2GnnError, match=match):
        GraphSpec(mode, k, m)


def test_a_batch_graph_does_not_need_anchors() -> None:
    assert GraphSpec("batch", 10, 1).min_nodes == 12


def test_round_trip_through_the_metadata_dict() -> None:
    spec = GraphSpec("anchor", 5, 64)
    assert spec.to_dict() == {"mode": "anchor", "k": 5, "num_anchors": 64}
    assert GraphSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(Cnn2GnnError, match="model.onnx: the graph record lacks the field 'k'"):
        GraphSpec.from_dict({"mode": "anchor", "num_anchors": 64}, source="model.onnx")


def test_a_too_large_k_stops_distill_when_the_student_config_is_made() -> None:
    from cnn2gnn.toolchain.models.student_config import StudentConfig

    with pytest.raises(Cnn2GnnError, match="above TensorRT's limit"):
        StudentConfig(in_channels=1, height=4, width=4, num_classes=2, k=TENSORRT_TOPK_LIMIT, num_anchors=4000)
