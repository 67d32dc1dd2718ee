"""The FP16 conversion is held to the accuracy budget, measured on ONNX Runtime's CPU against FP32."""

import pytest

pytest.importorskip("onnxconverter_common", reason="FP16 conversion needs onnxconverter-common (cnn2gnn[train])")

from cnn2gnn.calibration.accuracy_budget import AccuracyBudget  # noqa: E402
from cnn2gnn.contracts.errors import Cnn2GnnError  # noqa: E402
from cnn2gnn.engine.fp16 import fp16_onnx_from_fp32  # noqa: E402
from cnn2gnn.engine.onnx_facts import read_onnx_facts  # noqa: E402
from tests.calibration._planted_models import write_fp16_overflow  # noqa: E402


def _budget_check(path):
    return read_onnx_facts(path).metadata.extra["fp16_conversion"]["accuracy_budget"]


def test_a_conversion_within_budget_records_its_measurement(anchor_onnx, tmp_path):
    out = tmp_path / "anchor.fp16.onnx"
    with pytest.warns(UserWarning, match="truncated"):
        fp16_onnx_from_fp32(anchor_onnx, out, data="digits")
    check = _budget_check(out)
    assert check["measured"] and check["within_budget"] and check["split"] == "val"
    assert check["top1_agreement"] >= 0.99 and check["neighbour_agreement"] == 1.0  # the distance path stayed FP32
    assert check["max_drop_points"] == AccuracyBudget().max_drop_points


def test_without_images_to_measure_on_it_says_so(anchor_onnx, tmp_path):
    out = tmp_path / "anchor.fp16.onnx"
    with pytest.warns(UserWarning, match="FP16 accuracy against FP32 not measured"):
        fp16_onnx_from_fp32(anchor_onnx, out)  # its metadata names no dataset
    assert _budget_check(out)["measured"] is False


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory):
    return write_fp16_overflow(tmp_path_factory.mktemp("fp16_overflow") / "overflow.onnx")


def test_an_fp16_conversion_out_of_budget_is_refused_and_writes_nothing(overflowing, tmp_path):
    out = tmp_path / "overflow.fp16.onnx"
    with pytest.raises(Cnn2GnnError, match=r"FP16 conversion misses the accuracy budget.*top-1 agreement"):
        fp16_onnx_from_fp32(overflowing, out)
    assert list(tmp_path.iterdir()) == []


def test_allow_over_budget_writes_a_marked_fp16_model(overflowing, tmp_path):
    out = tmp_path / "overflow.fp16.onnx"
    fp16_onnx_from_fp32(overflowing, out, allow_over_budget=True)
    conversion = read_onnx_facts(out).metadata.extra["fp16_conversion"]
    assert conversion["over_budget"] is True and conversion["accuracy_budget"]["violations"]
