"""The accuracy budget and its float fallback: a planted INT8-sensitive node is found and kept float,
an impossible budget writes nothing, ``allow_over_budget`` writes a marked model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import pytest

from cnn2gnn.calibration.accuracy_budget import AccuracyBudget
from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx
from cnn2gnn.calibration.float_fallback import search_float_fallback
from cnn2gnn.contracts.errors import Cnn2GnnError
from tests.calibration._planted_models import write_all_sensitive, write_planted_chain
from tests.calibration.conftest import FAST


@pytest.fixture(scope="module")
def planted_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted_chain(tmp_path_factory.mktemp("planted") / "chain.onnx")


@pytest.fixture(scope="module")
def all_sensitive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_all_sensitive(tmp_path_factory.mktemp("all_sensitive") / "all.onnx")


@pytest.fixture(scope="module")
def planted_report(planted_chain: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return calibrate_onnx(planted_chain, tmp_path_factory.mktemp("planted_int8") / "chain.int8.onnx", **FAST)


def _reads_int8(model: onnx.ModelProto, node_name: str) -> bool:
    dq = {t for n in model.graph.node if n.op_type == "DequantizeLinear" for t in n.output}
    node = next(n for n in model.graph.node if n.name == node_name)
    return bool(set(node.input) & dq)


def test_the_planted_sensitive_node_and_only_it_stays_float(planted_report: dict[str, Any]) -> None:
    budget = planted_report["accuracy_budget"]
    assert budget["baseline_violations"]  # fully quantised, the planted node wrecks the model
    assert budget["baseline"]["top1_agreement"] < 0.5
    assert budget["float_nodes"] == ["sensitive"] and budget["within_budget"] and not planted_report["over_budget"]
    model = onnx.load(planted_report["output"])
    assert not _reads_int8(model, "sensitive")
    assert _reads_int8(model, "rotate") and _reads_int8(model, "classify")
    ev = planted_report["evaluation"]
    assert ev["top1_agreement"] >= 0.99 and ev["accuracy_drop_points"] <= 0.5 and ev["split"] == "val"


def test_the_report_gives_each_float_node_its_measured_harm(planted_report: dict[str, Any]) -> None:
    from cnn2gnn.calibration.calibration_report import format_calibration_report

    harm = planted_report["accuracy_budget"]["sensitivity"]
    assert set(harm) == {"sensitive", "rotate", "classify"}
    assert harm["sensitive"]["top1_agreement_gain"] > 0.5
    assert harm["rotate"]["top1_agreement_gain"] == harm["classify"]["top1_agreement_gain"] == 0.0
    text = format_calibration_report(planted_report)
    assert "within budget" in text and "kept float: sensitive" in text and "int8 speed-up" in text
    assert planted_report["latency"]["results"]  # the speed cost is measured every time


def test_the_model_metadata_records_the_budget_and_the_float_nodes(planted_report: dict[str, Any]) -> None:
    from cnn2gnn.export.onnx_metadata import read_onnx_metadata

    cal = read_onnx_metadata(planted_report["output"]).extra["calibration"]
    assert cal["over_budget"] is False and cal["fallback_float_nodes"] == ["sensitive"]
    assert "sensitive" in cal["excluded_nodes"]
    assert cal["accuracy_budget"]["max_drop_points"] == 0.5
    assert cal["accuracy_budget"]["measured"]["top1_agreement"] >= 0.99
    assert "validation split" in cal["accuracy_budget"]["measured_on"]


def test_no_configuration_within_budget_writes_nothing(all_sensitive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "all.int8.onnx"
    out.parent.mkdir()
    with pytest.raises(Cnn2GnnError, match=r"no INT8 configuration meets the accuracy budget.*Best of \d+ "
                                           r"configurations.*--allow-over-budget"):
        calibrate_onnx(all_sensitive, out, **FAST)
    assert list(out.parent.iterdir()) == []  # no model, sidecar, report, calibration set or temporary file


def test_allow_over_budget_writes_a_marked_model(all_sensitive: Path, tmp_path: Path) -> None:
    from cnn2gnn.export.onnx_metadata import read_onnx_metadata

    report = calibrate_onnx(all_sensitive, tmp_path / "all.int8.onnx", allow_over_budget=True, **FAST)
    assert report["over_budget"] is True and report["accuracy_budget"]["violations"]
    assert read_onnx_metadata(report["output"]).extra["calibration"]["over_budget"] is True
    assert any("over its accuracy budget" in w for w in report["warnings"])


def test_a_looser_budget_keeps_everything_int8(all_sensitive: Path, tmp_path: Path) -> None:
    report = calibrate_onnx(all_sensitive, tmp_path / "all.int8.onnx", max_drop=None, min_agreement=None, **FAST)
    assert report["accuracy_budget"]["float_nodes"] == [] and not report["over_budget"]


def test_budget_limits_must_be_fractions() -> None:
    with pytest.raises(Cnn2GnnError, match="--min-agreement 1.01 is a fraction"):
        AccuracyBudget(min_top1_agreement=1.01)
    with pytest.raises(Cnn2GnnError, match="--max-drop -1 is not a number of points from 0 to 100"):
        AccuracyBudget(max_drop_points=-1)


@pytest.mark.parametrize("limits", [{"max_drop_points": float("nan")}, {"max_drop_points": float("inf")},
                                    {"min_top1_agreement": float("nan")}, {"min_neighbour_agreement": float("nan")}])
def test_a_limit_that_is_not_a_number_is_refused_not_a_budget_switched_off(limits: dict[str, float]) -> None:
    with pytest.raises(Cnn2GnnError, match=r"--(max-drop|min-agreement|min-neighbour-agreement) (nan|inf) is"):
        AccuracyBudget(**limits)


def _fake(bad: dict[str, float], all_nodes: set[str]) -> Any:
    """A model whose top-1 agreement loses ``bad[n]`` for every quantised node n."""
    def measure(float_nodes: list[str]) -> dict[str, Any]:
        quantised = all_nodes - set(float_nodes)
        return {"accuracy_drop_points": 0.0, "top1_agreement": 1.0 - sum(bad.get(n, 0.0) for n in quantised),
                "neighbour_agreement": None, "int8_nodes": len(quantised)}
    return measure


def test_search_keeps_the_smallest_measured_set() -> None:
    bad = {"a": 0.005, "b": 0.02, "c": 0.004, "d": 0.0}
    result = search_float_fallback(list(bad), _fake(bad, set(bad)), AccuracyBudget(min_top1_agreement=0.99))
    assert result.within_budget and sorted(result.float_nodes) == ["b"]  # 0.005 + 0.004 <= 0.01 stays INT8
    result = search_float_fallback(list(bad), _fake(bad, set(bad)), AccuracyBudget(min_top1_agreement=0.995))
    assert result.within_budget and sorted(result.float_nodes) == ["a", "b"]


def test_search_never_floats_every_node() -> None:
    bad = {"a": 0.5, "b": 0.5}
    result = search_float_fallback(list(bad), _fake(bad, set(bad)), AccuracyBudget())
    assert not result.within_budget and result.comparison["int8_nodes"] > 0
