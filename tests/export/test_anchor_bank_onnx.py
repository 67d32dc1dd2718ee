"""The checksum of a model outside its anchor bank: equal exactly when only bank constants or metadata differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from cnn2gnn.export.anchor_bank_onnx import bank_constants, non_bank_checksum, with_bank_constants
from cnn2gnn.export.enrol_anchors import enrol_anchors


def test_a_bank_edit_or_new_metadata_keeps_the_checksum(exported_padded_lp_student: dict[str, Any], threes: Path,
                                                         tmp_path: Path) -> None:
    source = Path(exported_padded_lp_student["output"])
    enrol_anchors(source, tmp_path / "more3.onnx", images=threes, label="3", append=True)
    model = onnx.load(str(source))
    relabelled = onnx.ModelProto()
    relabelled.CopyFrom(model)
    relabelled.metadata_props[0].value = "{}"
    del relabelled.graph.value_info[:]
    checksum = non_bank_checksum(model)
    assert non_bank_checksum(onnx.load(str(tmp_path / "more3.onnx"))) == checksum
    assert non_bank_checksum(relabelled) == checksum
    scaled = {name: array * 2 for name, array in bank_constants(model, "lp100").items()}
    assert non_bank_checksum(with_bank_constants(model, scaled)) == checksum


def test_a_new_class_or_any_other_weight_changes_the_checksum(exported_padded_lp_student: dict[str, Any],
                                                              threes: Path, tmp_path: Path) -> None:
    source = Path(exported_padded_lp_student["output"])
    enrol_anchors(source, tmp_path / "new.onnx", images=threes, label="new")
    model = onnx.load(str(source))
    checksum = non_bank_checksum(model)
    assert non_bank_checksum(onnx.load(str(tmp_path / "new.onnx"))) != checksum  # the last layer grew a column
    weight = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "projection.weight"))
    nudged = weight.copy()
    nudged.flat[0] = np.nextafter(nudged.flat[0], np.float32(np.inf))
    assert non_bank_checksum(with_bank_constants(model, {"projection.weight": nudged})) != checksum


@pytest.mark.parametrize("edit", ["node", "opset"])
def test_a_graph_edit_changes_the_checksum(exported_padded_lp_student: dict[str, Any], edit: str) -> None:
    model = onnx.load(exported_padded_lp_student["output"])
    checksum = non_bank_checksum(model)
    if edit == "node":
        relu = next(n for n in model.graph.node if n.op_type == "Relu")
        relu.op_type = "Sigmoid"
    else:
        model.opset_import[0].version += 1
    assert non_bank_checksum(model) != checksum
