"""``calibrate_onnx`` end to end on the tiny student: the Q/DQ model, what it keeps float, how it runs, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx
from cnn2gnn.calibration.graph_path import ensure_node_names, find_graph_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from tests.calibration.conftest import FAST


def _inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _dq_outputs(model: onnx.ModelProto) -> set[str]:
    return {t for n in model.graph.node if n.op_type == "DequantizeLinear" for t in n.output}


def _graph_path(fp32: Path) -> list[str]:
    model = onnx.load(str(fp32))
    ensure_node_names(model)
    return find_graph_path(model).nodes


def test_qdq_model_is_symmetric_int8_with_per_channel_weights(calibrated_student: dict[str, Any]) -> None:
    model = onnx.load(calibrated_student["output"])
    inits = _inits(model)
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert q and dq
    for node in q + dq:
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
    for node in dq:  # TensorRT's parser takes INT8 only: biases must stay float, not INT32
        if node.input[0] in inits:
            assert inits[node.input[0]].dtype == np.int8, node.name
    weight_dq = {n.output[0]: n for n in dq if n.input[0] in inits}
    gemms = [n for n in model.graph.node if n.op_type == "Gemm" and n.input[1] in weight_dq]
    assert gemms, "no Gemm weight is quantised"
    for gemm in gemms:
        node = weight_dq[gemm.input[1]]
        weight, scale = inits[node.input[0]], inits[node.input[1]]
        trans_b = next((a.i for a in gemm.attribute if a.name == "transB"), 0)
        out_channels = weight.shape[0] if trans_b else weight.shape[1]  # B is (N, K) with transB, else (K, N)
        assert scale.shape == (out_channels,) and len(np.unique(scale)) > 1  # one scale per output channel
    # the exported extra outputs are kept; the TopK indices used to compare neighbours were only in memory
    assert [o.name for o in model.graph.output] == ["logits", "neighbour_index", "neighbour_weight", "novelty"]


def test_output_carries_int8_metadata_and_sidecar(calibrated_student: dict[str, Any]) -> None:
    from cnn2gnn.contracts.metadata import read_sidecar
    from cnn2gnn.export.onnx_metadata import read_onnx_metadata

    meta = read_onnx_metadata(calibrated_student["output"])
    assert meta.precision == "int8-qdq" and meta.kind == "student"
    cal = meta.extra["calibration"]
    assert cal["method"] == "minmax" and cal["num_images"] == 64 and cal["excluded_nodes"]
    assert cal["key"]["split"] == "train" and cal["key"]["num_images"] == 64
    sidecar = read_sidecar(calibrated_student["output"])
    assert sidecar["precision"] == "int8-qdq" and sidecar["extra"]["onnx_sha256"] == calibrated_student["output_sha256"]


def test_the_int8_model_carries_the_anchor_thumbnails_for_explanations(calibrated_student: dict[str, Any],
                                                                        tiny_student_onnx: Path) -> None:
    from cnn2gnn.contracts.anchor_bank import bank_record
    from cnn2gnn.contracts.anchor_thumbnails import read_thumbnails, thumbnails_path
    from cnn2gnn.export.onnx_metadata import read_onnx_metadata

    output = Path(calibrated_student["output"])
    record = bank_record(read_onnx_metadata(output), str(output))
    assert thumbnails_path(output).read_bytes() == thumbnails_path(tiny_student_onnx).read_bytes()
    assert len(read_thumbnails(output, record["thumbnails_sha256"])) == record["size"]


def test_without_its_thumbnails_the_student_is_calibrated_with_a_warning(tiny_student_onnx: Path,
                                                                         tmp_path: Path) -> None:
    import shutil

    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
    from cnn2gnn.contracts.metadata import sidecar_path

    model = tmp_path / "student.onnx"
    shutil.copy(tiny_student_onnx, model)
    shutil.copy(sidecar_path(tiny_student_onnx), sidecar_path(model))
    report = calibrate_onnx(model, tmp_path / "student.int8.onnx", **FAST)
    assert (tmp_path / "student.int8.onnx").is_file() and not thumbnails_path(tmp_path / "student.int8.onnx").exists()
    assert any("anchor thumbnails" in w and "without them" in w for w in report["warnings"])


def test_a_model_saved_with_external_weights_is_calibrated(tiny_student_onnx: Path, tmp_path: Path) -> None:
    import shutil

    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
    from cnn2gnn.contracts.metadata import sidecar_path

    model = tmp_path / "student.onnx"
    onnx.save(onnx.load(str(tiny_student_onnx)), str(model), save_as_external_data=True,
              location="student.onnx.data", size_threshold=0)
    for companion in (sidecar_path, thumbnails_path):
        shutil.copy(companion(tiny_student_onnx), companion(model))
    report = calibrate_onnx(model, tmp_path / "student.int8.onnx", **{**FAST, "latency_iterations": 0})
    assert onnx.load(str(tmp_path / "student.int8.onnx")).graph.node and not report["over_budget"]


def test_graph_path_stays_float_by_default(calibrated_student: dict[str, Any], tiny_student_onnx: Path) -> None:
    path = _graph_path(tiny_student_onnx)
    model = onnx.load(calibrated_student["output"])
    dq = _dq_outputs(model)
    nodes = {n.name: n for n in model.graph.node}
    cal = calibrated_student["calibration"]
    assert set(cal["graph_path_nodes"]) == set(path)
    assert cal["excluded_nodes"] == cal["graph_path_nodes"] + cal["fallback_float_nodes"]
    for name in path:
        assert not set(nodes[name].input) & dq, f"{name} reads an INT8 tensor"
    assert not set(path) & set(calibrated_student["qdq"]["quantized_nodes"])
    assert calibrated_student["qdq"]["quantized_nodes"]  # the GCN layers are quantised


def test_quantize_graph_quantises_the_graph_path(calibrated_student_graph: dict[str, Any],
                                                 tiny_student_onnx: Path) -> None:
    path = _graph_path(tiny_student_onnx)
    model = onnx.load(calibrated_student_graph["output"])
    nodes = {n.name: n for n in model.graph.node}
    dq = _dq_outputs(model)
    quantised = {name for name in path if set(nodes[name].input) & dq}
    ops = {nodes[name].op_type for name in quantised}
    assert {"Gemm", "Gather"} <= ops  # projection and distances (Gemms), the anchors' messages
    assert sum(nodes[name].op_type == "Gemm" for name in quantised) == 2
    assert calibrated_student_graph["calibration"]["excluded_nodes"] == []
    assert calibrated_student_graph["calibration"]["quantize_graph"] is True


def test_int8_runs_on_onnxruntime_cpu_and_agrees_with_fp32(calibrated_student: dict[str, Any],
                                                           tiny_student_onnx: Path) -> None:
    from cnn2gnn.contracts.preprocessing import preprocess_images
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.toolchain.data import load_dataset

    val = load_dataset("digits", seed=0).val
    with OnnxRuntimeRunner(tiny_student_onnx, providers=["CPUExecutionProvider"]) as fp32, \
            OnnxRuntimeRunner(calibrated_student["output"], providers=["CPUExecutionProvider"]) as int8:
        x = preprocess_images(val.images, fp32.metadata.preprocessing)
        agreement = float((fp32.infer(x).argmax(1) == int8.infer(x).argmax(1)).mean())
    assert agreement >= 0.9
    ev = calibrated_student["evaluation"]
    assert ev["split"] == "val" and ev["num_images"] == len(val)
    assert ev["top1_agreement"] == pytest.approx(agreement)  # the report measured the same thing
    assert ev["neighbour_agreement"] >= 0.99  # float graph path: the same neighbours


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)


@pytest.mark.parametrize("fixture", ["calibrated_student", "calibrated_student_graph"])
def test_report_fields_exist_and_are_numbers(fixture: str, request: pytest.FixtureRequest) -> None:
    report = request.getfixturevalue(fixture)
    ev = report["evaluation"]
    assert _numbers(ev["fp32_accuracy"], ev["int8_accuracy"], ev["accuracy_drop_points"], ev["top1_agreement"],
                    ev["mean_abs_logit_diff"], ev["neighbour_agreement"])
    assert 0 <= ev["neighbour_agreement"] <= 1 and 0 <= ev["top1_agreement"] <= 1
    scales = report["qdq"]["scales"]
    assert scales["activations"] and all(_numbers(s) and s > 0 for s in scales["activations"].values())
    assert scales["zero_points_all_zero"] is True
    assert any(w["per_channel"] for w in scales["weights"].values())
    rows = {r["batch_size"]: r for r in report["latency"]["results"]}
    assert set(rows) == {1, 64}
    for row in rows.values():
        assert _numbers(row["fp32_p50_ms"], row["int8_p50_ms"], row["int8_speedup"]) and row["fp32_p50_ms"] > 0
    assert json.loads(Path(report["report"]).read_text()) == json.loads(json.dumps(report))


def test_calibration_set_is_reused_when_its_key_matches_and_refused_otherwise(tiny_student_onnx: Path,
                                                                             tmp_path: Path) -> None:
    from cnn2gnn.contracts.calibration_set import load_calibration_set

    calib = tmp_path / "calib.npz"
    out = tmp_path / "a.int8.onnx"
    first = calibrate_onnx(tiny_student_onnx, out, calibration_set=calib, **{**FAST, "latency_iterations": 0})
    assert first["calibration"]["calibration_set_origin"] == "created" and calib.is_file()
    tensors, key = load_calibration_set(calib, None)
    assert tensors.shape == (64, 1, 16, 16) and key["model_hash_of"] == "checkpoint"
    second = calibrate_onnx(tiny_student_onnx, tmp_path / "b.int8.onnx", calibration_set=calib,
                            **{**FAST, "latency_iterations": 0})
    assert second["calibration"]["calibration_set_origin"] == "reused"
    assert second["qdq"]["scales"] == first["qdq"]["scales"]  # same images, same ranges
    before = out.read_bytes()
    with pytest.raises(Cnn2GnnError, match=r"seed: stored 0, expected 1\); refusing to reuse"):
        calibrate_onnx(tiny_student_onnx, out, calibration_set=calib, seed=1, **{**FAST, "latency_iterations": 0})
    assert out.read_bytes() == before  # a refused run leaves the existing output alone


def test_existing_output_is_replaced_atomically(tiny_student_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.int8.onnx"
    out.write_bytes(b"an older model")
    calibrate_onnx(tiny_student_onnx, out, **{**FAST, "latency_iterations": 0})
    assert onnx.load(str(out)).graph.node  # a complete model replaced the old bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m.int8.onnx", "m.int8.onnx.anchors.npy", "m.int8.onnx.calibration.npz", "m.int8.onnx.json",
        "m.int8.onnx.report.json"]


def test_entropy_ranges_clip_inside_the_minmax_ranges(calibrated_student: dict[str, Any], tiny_student_onnx: Path,
                                                      tmp_path: Path) -> None:
    """ONNX Runtime's default histogram (128 bins, 128 quantised) makes entropy equal min-max; ours must not."""
    from cnn2gnn.calibration.qdq_quantization import activation_ranges
    from cnn2gnn.contracts.calibration_set import load_calibration_set

    tensors, _ = load_calibration_set(calibrated_student["calibration"]["calibration_set"], None)
    minmax = activation_ranges(tiny_student_onnx, tensors, "images", "minmax", tmp_path, progress=False)
    entropy = activation_ranges(tiny_student_onnx, tensors, "images", "entropy", tmp_path, num_bins=600,
                                progress=False)
    def absmax(range_value: tuple) -> float:
        return float(max(np.abs(np.asarray(v, dtype=np.float64)).max() for v in range_value))

    widths = {name: (absmax(data.range_value), absmax(minmax[name].range_value)) for name, data in entropy.items()}
    assert all(t <= m * (1 + 1e-5) + 1e-6 for t, m in widths.values())
    assert any(t < 0.95 * m for t, m in widths.values())


# --- bad input ---------------------------------------------------------------------------------


def test_truncated_onnx_is_a_clear_error(tiny_student_onnx: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.onnx"
    data = tiny_student_onnx.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(Cnn2GnnError, match="corrupt, truncated or not an ONNX model"):
        calibrate_onnx(bad, tmp_path / "out.onnx", **FAST)
    assert not (tmp_path / "out.onnx").exists()


def test_onnx_not_made_by_cnn2gnn_is_refused(tmp_path: Path) -> None:
    from tests.runtime._onnx_models import write_linear_onnx

    plain = write_linear_onnx(tmp_path / "plain.onnx", np.ones((10, 256), np.float32), np.zeros(10, np.float32), None,
                              input_chw=(1, 16, 16))
    with pytest.raises(Cnn2GnnError, match="not made by cnn2gnn export"):
        calibrate_onnx(plain, tmp_path / "out.onnx", data="digits", **FAST)


def test_a_model_whose_input_does_not_match_its_metadata_is_refused(tmp_path: Path) -> None:
    """Metadata saying 3 channels on a 1-channel graph: the images it would preprocess cannot be fed."""
    from cnn2gnn.contracts.metadata import ModelMetadata
    from cnn2gnn.contracts.preprocessing import Preprocessing
    from tests.runtime._onnx_models import write_linear_onnx

    meta = ModelMetadata(kind="teacher", class_names=[str(d) for d in range(10)],
                         preprocessing=Preprocessing.default_for(3, 16), run_config={"data": "digits"})
    model = write_linear_onnx(tmp_path / "rgb.onnx", np.ones((10, 256), np.float32), np.zeros(10, np.float32), meta,
                              input_chw=(1, 16, 16))
    with pytest.raises(Cnn2GnnError, match=r"has shape \[None, 1, 16, 16\].*\[N, 3, 16, 16\].*do not belong"):
        calibrate_onnx(model, tmp_path / "out.onnx", **FAST)


def test_the_qdq_model_passes_the_static_tensorrt_check(calibrated_student: dict[str, Any],
                                                        calibrated_student_graph: dict[str, Any]) -> None:
    for report in (calibrated_student, calibrated_student_graph):
        # no warning: the neighbour_index output is int32, which every TensorRT version outputs
        assert report["tensorrt_check"] == {"verdict": "compatible", "findings": []}


def test_an_int8_model_is_not_calibrated_again(calibrated_student: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="already a int8-qdq model; calibrate the FP32 export"):
        calibrate_onnx(calibrated_student["output"], tmp_path / "again.onnx", **FAST)


def test_bad_options_are_refused(tiny_student_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="must end in .onnx"):
        calibrate_onnx(tiny_student_onnx, tmp_path / "out.engine", **FAST)
    with pytest.raises(Cnn2GnnError, match="calibration method 'kl' unknown; use one of minmax, entropy, percentile"):
        calibrate_onnx(tiny_student_onnx, tmp_path / "out.onnx", method="kl", **FAST)
    with pytest.raises(Cnn2GnnError, match="number of calibration images must be at least 1"):
        calibrate_onnx(tiny_student_onnx, tmp_path / "out.onnx", **{**FAST, "num_images": 0})
    with pytest.raises(Cnn2GnnError, match=r"seed of the calibration-image draw \(--seed\) must be"):
        calibrate_onnx(tiny_student_onnx, tmp_path / "out.onnx", **{**FAST, "seed": -1})
    assert not list(tmp_path.iterdir())


def _digit_folders(root: Path, per_class: int) -> None:
    from tests.toolchain.data._writers import pattern_image, write_class_folders

    for split, offset in (("train", 0), ("val", 500)):
        write_class_folders(root / split, {str(d): [pattern_image(offset + 10 * d + i, (8, 8)) for i in range(per_class)]
                                           for d in range(10)})


def test_a_dataset_with_other_classes_is_refused(tiny_student_onnx: Path, tmp_path: Path) -> None:
    from tests.toolchain.data._writers import pattern_image, write_class_folders

    write_class_folders(tmp_path / "data", {name: [pattern_image(i, (8, 8)) for i in range(4)] for name in "abc"})
    with pytest.raises(Cnn2GnnError, match="3 vs 10 classes; the first difference is class 0"):
        calibrate_onnx(tiny_student_onnx, tmp_path / "out.onnx", data=f"imagefolder:{tmp_path / 'data'}", **FAST)
    assert not (tmp_path / "out.onnx").exists()


def test_few_and_undecodable_images_are_used_warned_and_recorded(tiny_student_onnx: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _digit_folders(tmp_path / "data", per_class=3)
    (tmp_path / "data" / "train" / "7" / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    report = calibrate_onnx(tiny_student_onnx, tmp_path / "out.onnx", data=f"imagefolder:{tmp_path / 'data'}",
                            **{**FAST, "latency_iterations": 0})
    cal = report["calibration"]
    assert cal["num_images"] == 30 and cal["num_images_requested"] == 64
    assert [Path(f["image"]).name for f in cal["failed_images"]] == ["damaged.png"]
    assert cal["per_class"] == {str(d): 3 for d in range(10)}
    err = capsys.readouterr().err
    assert "warning: asked for 64 calibration images" in err and "damaged.png" in err
    assert any("only 30 usable" in w for w in report["warnings"])
    assert report["evaluation"]["num_images"] == 30 and report["latency"] is None


def test_extra_outputs_survive_int8_and_report_the_fp32_neighbours(calibrated_student: dict[str, Any],
                                                                  tiny_student_onnx: Path) -> None:
    """The graph path stays float: INT8 reports the FP32 model's neighbours. The novelty's cosines stay float too
    (its MatMul reads the float anchor_hidden), so it differs only by the INT8 rounding of the hidden features."""
    from cnn2gnn.contracts.preprocessing import preprocess_images
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.toolchain.data import load_dataset

    val = load_dataset("digits", seed=0).val
    with OnnxRuntimeRunner(tiny_student_onnx, providers=["CPUExecutionProvider"]) as fp32, \
            OnnxRuntimeRunner(calibrated_student["output"], providers=["CPUExecutionProvider"]) as int8:
        assert int8.output_names == ["logits", "neighbour_index", "neighbour_weight", "novelty"]
        x = preprocess_images(val.images[:64], fp32.metadata.preprocessing)
        a, b = fp32.infer_outputs(x), int8.infer_outputs(x)
    assert a["neighbour_index"].dtype == b["neighbour_index"].dtype == np.int32
    assert np.array_equal(a["neighbour_index"], b["neighbour_index"])
    assert np.abs(a["neighbour_weight"] - b["neighbour_weight"]).max() <= 1e-4
    assert np.abs(a["novelty"] - b["novelty"]).max() <= 2e-3
    import onnx

    nodes = onnx.load(calibrated_student["output"]).graph.node
    assert any(n.op_type == "MatMul" and "anchor_hidden" in n.input for n in nodes)  # not a DequantizeLinear's
    assert int8.metadata.extra["anchor_bank"]["sha256"] == fp32.metadata.extra["anchor_bank"]["sha256"]
