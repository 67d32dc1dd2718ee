"""What deploying a model costs, measured once per model on the first seed's artifacts: parameters,
stored constants, FLOPs per image, the ONNX export, INT8 Q/DQ accuracy, and ONNX Runtime latency of
every model in one interleaved run (so the latency ratios in the targets come from the same run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from comparison.settings import Settings


def _knn(s: Settings, models: dict[str, Any], seed: int) -> nn.Module:
    """The kNN baseline of ``seed``: built from that seed's distilled anchor student, as it was tested."""
    from cnn2gnn.toolchain.baselines.knn import knn_from_student
    from cnn2gnn.toolchain.models.student import CNN2GNNStudent
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint

    student = model_from_checkpoint(load_checkpoint(models["cnn2gnn_anchor"]["seeds"][str(seed)]["checkpoint"]))
    assert isinstance(student, CNN2GNNStudent)
    return knn_from_student(student, s.knn_vote)


def _cost(record: dict[str, Any], module: nn.Module, train_module: nn.Module, input_shape: tuple[int, ...],
          batch: int) -> None:
    from comparison.flops import constant_count, flops_per_image, parameter_count

    record["params"] = parameter_count(train_module)
    record["constants"] = constant_count(module)
    record["flops_per_image"] = flops_per_image(module, input_shape, batch)


def measure_cost(s: Settings, models: dict[str, Any], seed: int) -> None:
    """Parameters, constants and FLOPs per image of each model as ``seed`` trained it (a batch-mode
    student counted within a batch of 64, its cost per image there)."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
    from comparison.training import deployed_module

    for name, m in models.items():
        run = m["seeds"][str(seed)]
        if name == "knn":
            knn = _knn(s, models, seed)
            anchor = load_checkpoint(models["cnn2gnn_anchor"]["seeds"][str(seed)]["checkpoint"])
            _cost(m, knn, knn, anchor.preprocessing.input_shape, 1)
            continue
        payload = load_checkpoint(run["checkpoint"])
        deployed = deployed_module(payload)
        trained = model_from_checkpoint(payload)
        if deployed is None:
            _cost(m, trained, trained, payload.preprocessing.input_shape, 64)
            m["notes"].append("batch graph mode: a lone image has no neighbours (accuracy at batch 1 n/a) and the "
                              "prediction depends on the rest of the batch, so it has no ONNX export; FLOPs per image "
                              "counted within a batch of 64; tested with the test images in a seeded random order "
                              "(in the split's file order, class by class, a batch's graph leaks the label: that "
                              "number is in the JSON as 64_file_order)")
        else:
            _cost(m, deployed, trained, payload.preprocessing.input_shape, 1)


def export_and_quantise(s: Settings, models: dict[str, Any], seed: int, onnx_dir: Path, x_test: np.ndarray,
                        y_test: np.ndarray, progress: bool, bar: Any) -> None:
    """ONNX export (checker + parity) and INT8 Q/DQ with its test accuracy, for each deployable model of ``seed``."""
    from comparison.baseline_export import onnx_from_module
    from comparison.measure import export_checkpoint, int8_test_comparison

    for name, m in models.items():
        bar.set_postfix_str(name)
        run = m["seeds"][str(seed)]
        fp32_path = onnx_dir / f"{name}.onnx"
        if name == "knn":
            knn = _knn(s, models, seed)
            graph = {"mode": "knn", "k": knn.k, "num_anchors": int(knn.anchors.shape[0])}
            anchor = Path(models["cnn2gnn_anchor"]["seeds"][str(seed)]["checkpoint"])
            m["onnx"] = onnx_from_module(knn, fp32_path, anchor, graph, s.parity_samples, progress)
        elif run["test_accuracy"]["1"] is None:  # batch mode: no single-image form, nothing to export
            m["onnx"] = m["int8"] = None
            continue
        else:
            m["onnx"] = export_checkpoint(Path(run["checkpoint"]), fp32_path, s.parity_samples, progress)
        m["int8"] = int8_test_comparison(fp32_path, onnx_dir / f"{name}.int8.onnx", x_test, y_test,
                                         s.calibration_images, seed, progress)


def time_models(s: Settings, models: dict[str, Any], x_test: np.ndarray, progress: bool) -> None:
    """Every exported model, FP32 and INT8, in one interleaved ONNX Runtime run."""
    from comparison.latency import measure_latency, summary

    timed = {f"{name}/{precision}": Path(m[key]["output"]) for name, m in models.items()
             for precision, key in (("fp32", "onnx"), ("int8", "int8")) if m.get(key)}
    latency = measure_latency(timed, x_test[:64], s.threads, s.warmup, {1: s.iterations_b1, 64: s.iterations_b64},
                              s.rounds, progress)
    for name, m in models.items():
        if m.get("onnx"):
            m["latency"] = {p: {**summary(latency[f"{name}/{p}"]), "raw": latency[f"{name}/{p}"]}
                            for p in ("fp32", "int8") if f"{name}/{p}" in latency}
