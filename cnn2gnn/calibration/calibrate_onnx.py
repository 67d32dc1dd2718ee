"""``cnn2gnn calibrate``: an FP32 cnn2gnn ONNX model -> its INT8 Q/DQ model, calibration set and report.

Steps: read the model and its metadata; take N class-balanced images from the TRAINING split of the
data the model was trained on (same split seed), preprocessed with the model's own metadata; save
them as a keyed calibration set (or reuse a matching one); quantise with ONNX Runtime (graph path
kept float unless ``quantize_graph``); measure FP32 vs INT8 on the VALIDATION split against the
accuracy budget, keeping float the fewest nodes that bring it within (or refusing, writing nothing);
write the Q/DQ model with its metadata and the report, each atomically; measure CPU latency.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.calibration.accuracy_budget import (
    DEFAULT_MAX_DROP_POINTS,
    DEFAULT_MIN_NEIGHBOUR_AGREEMENT,
    DEFAULT_MIN_TOP1_AGREEMENT,
    AccuracyBudget,
)
from cnn2gnn.contracts.atomic_io import atomic_write_json, sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.contracts.setting_ranges import MAX_SEED, require_int_in

DEFAULT_NUM_IMAGES = 512
EVALUATION_SPLIT = "val"
HELD_OUT_DESCRIPTION = ("the validation split (training only chose a checkpoint and the student's alpha on it, no "
                        "weights): disjoint from the calibration images (training split) and from the test split")


def default_report_path(output: Path) -> Path:
    return output.with_name(output.name + ".report.json")


def default_calibration_set_path(output: Path) -> Path:
    return output.with_name(output.name + ".calibration.npz")


class CalibrationWarnings(list):
    """Warnings go to stderr as they happen and into the report."""

    def add(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)
        self.append(message)


def _check_model_input(model: Any, metadata: ModelMetadata, path: Path) -> None:
    inputs = {i.name: i for i in model.graph.input}
    if metadata.input_name not in inputs:
        raise Cnn2GnnError(
            f"{path}: its metadata names the input {metadata.input_name!r}, the graph has {sorted(inputs)}; re-export it"
        )
    dims = inputs[metadata.input_name].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    expected = list(metadata.preprocessing.input_shape)
    if len(shape) != 4 or any(got is not None and got != want for got, want in zip(shape[1:], expected)):
        raise Cnn2GnnError(
            f"{path}: input {metadata.input_name!r} has shape {shape}, but its metadata preprocesses images to "
            f"[N, {', '.join(map(str, expected))}] (channels, height, width): the model and its metadata do not "
            "belong together; re-export it with `cnn2gnn export`"
        )


def training_split_seed(metadata: ModelMetadata) -> int:
    train = (metadata.run_config or {}).get("train") or {}
    return int(train.get("seed", 0))


def select_calibration_tensors(
    source: Any, metadata: ModelMetadata, num_images: int, seed: int, warnings: CalibrationWarnings, progress: bool
) -> tuple[np.ndarray, dict[str, Any]]:

    from cnn2gnn.calibration.calibration_data import PreprocessedImages
    from cnn2gnn.calibration.stratified_selection import select_stratified

    train = source.split("train")
    images = PreprocessedImages(train, metadata)
    with progress_bar(total=min(num_images, len(train)), desc="calibration images", unit="img", enabled=progress) as bar:

        def try_use(i: int) -> str | None:
            reason = images.try_use(i)
            if reason is None:
                bar.update(1)
            return reason

        indices, failed = select_stratified(train.labels, num_images, seed, try_use)
    failures = images.failures()
    if failed:
        shown = ", ".join(f["image"] for f in failures[:3])
        warnings.add(f"{len(failed)} training image(s) could not be used and were skipped ({shown}"
                     f"{', ...' if len(failed) > 3 else ''}); all are listed in the report")
    if len(indices) == 0:
        raise Cnn2GnnError(
            f"--data {source.spec}: no usable image in the training split ({len(train)} images, {len(failed)} failed); "
            "nothing to calibrate on"
        )
    if len(indices) < num_images:
        warnings.add(f"asked for {num_images} calibration images, the training split of {source.spec} has only "
                     f"{len(indices)} usable ones: calibrating on those")
    counts = np.bincount(train.labels[indices], minlength=len(source.class_names))
    info = {
        "indices": [int(i) for i in indices],
        "per_class": {name: int(c) for name, c in zip(source.class_names, counts)},
        "failed_images": failures,
    }
    return images.batch(indices), info


def evaluation_tensors(
    source: Any, metadata: ModelMetadata, warnings: CalibrationWarnings, split_name: str = EVALUATION_SPLIT
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """(tensors, labels, failures) of every usable image of ``split_name``, preprocessed for the model."""
    from cnn2gnn.calibration.calibration_data import PreprocessedImages

    split = source.split(split_name)
    images = PreprocessedImages(split, metadata)
    usable = np.asarray([i for i in range(len(split)) if images.try_use(i) is None], dtype=np.int64)
    failures = images.failures()
    if failures:
        warnings.add(f"{len(failures)} {split_name} image(s) could not be used and are left out of the accuracy "
                     f"({failures[0]['image']}{', ...' if len(failures) > 1 else ''})")
    if len(usable) == 0:
        raise Cnn2GnnError(f"--data {source.spec}: no usable image in the {split_name} split to measure accuracy on")
    return images.batch(usable), split.labels[usable], failures


def _calibration_set_key(model: Path, metadata: ModelMetadata, source: Any, split_seed: int, num_images: int,
                         seed: int) -> dict[str, Any]:
    from cnn2gnn.contracts.calibration_set import calibration_set_key

    if metadata.source_checkpoint_sha256:
        model_sha, hash_of = metadata.source_checkpoint_sha256, "checkpoint"
    else:
        model_sha, hash_of = sha256_file(model), "onnx"
    return calibration_set_key(
        model_sha256=model_sha, model_hash_of=hash_of, dataset=source.spec, dataset_fingerprint=source.fingerprint,
        split="train", split_seed=split_seed, preprocessing=metadata.preprocessing.to_dict(),
        num_images=num_images, seed=seed,
    )


def _reused_calibration_set(path: Path, key: dict[str, Any], num_images: int, warnings: CalibrationWarnings) -> np.ndarray:
    from cnn2gnn.contracts.calibration_set import load_calibration_set

    tensors, _ = load_calibration_set(path, key)
    if len(tensors) < num_images:
        warnings.add(f"calibration set {path} holds {len(tensors)} images, fewer than the {num_images} asked for "
                     "(its training split had no more usable ones)")
    return tensors


def _thumbnail_files(model: Path, metadata: ModelMetadata, output: Path,
                     warnings: CalibrationWarnings) -> list[tuple[Path, bytes]]:
    """The FP32 student's anchor thumbnails, to travel with its INT8 model (the same bank, so the same file and
    checksum): explanations on the device read them beside whichever model runs. None for a model without a bank;
    a missing or foreign file is a warning (calibration does not need it), not an error."""
    from cnn2gnn.contracts.anchor_bank import BANK_KEY
    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_file_bytes, thumbnails_path

    record = (metadata.extra or {}).get(BANK_KEY)
    if not isinstance(record, dict) or "thumbnails_sha256" not in record:
        return []
    try:
        return [(thumbnails_path(output), thumbnails_file_bytes(model, record["thumbnails_sha256"]))]
    except Cnn2GnnError as exc:
        warnings.add(f"{exc}; {output} is written without them, so its explanations show no anchor images")
        return []


def calibrate_onnx(
    model: str | Path,
    output: str | Path,
    data: str | None = None,
    *,
    num_images: int = DEFAULT_NUM_IMAGES,
    method: str = "minmax",
    quantize_graph: bool = False,
    calibration_set: str | Path | None = None,
    report: str | Path | None = None,
    seed: int = 0,
    latency_iterations: int = 100,
    num_bins: int | None = None,
    max_drop: float | None = DEFAULT_MAX_DROP_POINTS,
    min_agreement: float | None = DEFAULT_MIN_TOP1_AGREEMENT,
    min_neighbour_agreement: float | None = DEFAULT_MIN_NEIGHBOUR_AGREEMENT,
    allow_over_budget: bool = False,
    progress: bool = True,
    class_names: Path | None = None,
) -> dict[str, Any]:
    """Calibrate ``model`` into the Q/DQ ``output``; returns the report (also written to ``report``).

    Accuracy budget (each measured against FP32 on the validation split; None: not checked): the
    accuracy may drop by ``max_drop`` points, top-1 agreement must be >= ``min_agreement`` and the
    fraction of samples with an unchanged neighbour set >= ``min_neighbour_agreement``. Out of budget,
    the fewest nodes that bring it back are kept float (:mod:`cnn2gnn.calibration.float_fallback`);
    when no configuration meets it, :class:`Cnn2GnnError` names the best one found and nothing is
    written, unless ``allow_over_budget`` (then the model and report say ``over_budget``).

    ``data`` defaults to the dataset the model was trained on (from its metadata), named with the model's class
    names; ``class_names`` (a names file) replaces the dataset's own names. ``calibration_set``:
    reuse that file when its key matches, create it when missing, refuse it when the key differs;
    without it the set is written to ``<output>.calibration.npz``. ``latency_iterations=0`` skips the
    CPU latency measurement. ``num_bins`` overrides the histogram size of entropy/percentile.
    """
    import onnx

    from cnn2gnn.calibration.calibration_data import check_source_matches_model, image_source
    from cnn2gnn.calibration.cpu_latency import compare_cpu_latency
    from cnn2gnn.calibration.graph_path import ensure_node_names, find_graph_path
    from cnn2gnn.calibration.int8_within_budget import int8_within_budget, over_budget_message
    from cnn2gnn.calibration.qdq_inspection import qdq_node_counts, qdq_scales, quantized_nodes
    from cnn2gnn.calibration.qdq_quantization import CALIBRATION_METHODS
    from cnn2gnn.contracts.calibration_set import save_calibration_set
    from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model, write_onnx_with_metadata
    from cnn2gnn.export.tensorrt_compat import check_tensorrt_compatibility
    from cnn2gnn.toolchain.data.spec import class_names_for

    started = time.perf_counter()
    model, output = Path(model), Path(output)
    if output.suffix.lower() != ".onnx":
        raise Cnn2GnnError(f"output {output} must end in .onnx (e.g. model.int8.onnx)")
    if method not in CALIBRATION_METHODS:
        raise Cnn2GnnError(f"calibration method {method!r} unknown; use one of {', '.join(CALIBRATION_METHODS)}")
    if num_images < 1:
        raise Cnn2GnnError(f"number of calibration images must be at least 1, got {num_images} "
                           "(a few hundred is typical)")
    if latency_iterations < 0:
        raise Cnn2GnnError(f"latency iterations must be >= 0, got {latency_iterations}")
    require_int_in("seed of the calibration-image draw (--seed)", seed, 0, MAX_SEED)
    if output.exists() and model.exists() and output.resolve() == model.resolve():
        raise Cnn2GnnError(f"output {output} is the FP32 input model itself; write the INT8 model to another file")
    budget = AccuracyBudget(max_drop, min_agreement, min_neighbour_agreement)
    warnings = CalibrationWarnings()

    fp32_model = load_onnx_model(model, load_external_data=True)  # a model saved with external weights: read them
    metadata = metadata_from_onnx_model(fp32_model, str(model))
    if metadata.precision != "fp32":
        raise Cnn2GnnError(
            f"{model} is already a {metadata.precision} model; calibrate the FP32 export (`cnn2gnn export`) instead"
        )
    _check_model_input(fp32_model, metadata, model)
    spec = data or (metadata.run_config or {}).get("data")
    if not spec:
        raise Cnn2GnnError(f"{model}'s metadata does not name its training dataset: pass --data SPEC")
    split_seed = training_split_seed(metadata)
    source = image_source(spec, split_seed, class_names_for(class_names, data, metadata.class_names))
    check_source_matches_model(source, metadata, str(model))
    trained_on = (metadata.extra or {}).get("dataset") or {}
    if source.fingerprint_is_content and trained_on.get("fingerprint") not in (None, "", source.fingerprint):
        warnings.add(f"--data {spec} is not the exact data {model} was trained on (its fingerprint differs from "
                     f"the one in the model's metadata, {trained_on.get('spec')!r})")

    set_path = Path(calibration_set) if calibration_set is not None else default_calibration_set_path(output)
    key = _calibration_set_key(model, metadata, source, split_seed, num_images, seed)
    if calibration_set is not None and set_path.exists():
        tensors, selection, set_origin = _reused_calibration_set(set_path, key, num_images, warnings), {}, "reused"
    else:  # saved once the model is within budget (or allowed over it): a refused run writes nothing
        tensors, selection = select_calibration_tensors(source, metadata, num_images, seed, warnings, progress)
        set_origin = "created"
    if tuple(tensors.shape[1:]) != tuple(metadata.preprocessing.input_shape):
        raise Cnn2GnnError(f"calibration set {set_path} holds {tensors.shape[1:]} tensors, the model takes "
                           f"{metadata.preprocessing.input_shape}")

    work = onnx.ModelProto()
    work.CopyFrom(fp32_model)
    ensure_node_names(work)
    graph_path = find_graph_path(work)
    if metadata.graph is not None and not graph_path.topk_nodes:
        warnings.add(f"{model} is a graph student but no TopK over the input was found: no graph path to keep float")
    graph_float = [] if quantize_graph else graph_path.nodes
    x_eval, y_eval, eval_failures = evaluation_tensors(source, metadata, warnings)
    int8_model, fallback = int8_within_budget(work, metadata, tensors, method, graph_float, num_bins, x_eval, y_eval,
                                              budget, progress)
    evaluation = {"data": spec, "split": EVALUATION_SPLIT, "failed_images": eval_failures, **fallback.comparison}
    over_budget = not fallback.within_budget
    if over_budget and not allow_over_budget:
        raise Cnn2GnnError(over_budget_message(model, output, evaluation, fallback, budget))
    if over_budget:
        warnings.add(f"{output} is over its accuracy budget ({'; '.join(budget.violations(fallback.comparison))}); "
                     "written because of --allow-over-budget and marked over_budget in its metadata and report")
    if fallback.float_nodes:
        warnings.add(f"kept {len(fallback.float_nodes)} node(s) float to meet the accuracy budget: "
                     f"{', '.join(fallback.float_nodes)}")
    if not quantized_nodes(int8_model):
        warnings.add("no node reads an INT8 input: the model is INT8 in name only")
    excluded = graph_float + fallback.float_nodes
    if set_origin == "created":
        save_calibration_set(set_path, tensors, key)

    trt_check = check_tensorrt_compatibility(int8_model, source=str(output))
    if trt_check["verdict"] == "incompatible":
        warnings.add(f"the Q/DQ model fails the static TensorRT check ({trt_check['errors']} error(s)); "
                     f"run `cnn2gnn check {output}` for the details")

    calibration = {
        "method": method,
        "num_images": int(len(tensors)),
        "num_images_requested": int(num_images),
        "quantize_graph": bool(quantize_graph),
        "excluded_nodes": excluded,
        "graph_path_nodes": graph_path.nodes,
        "fallback_float_nodes": fallback.float_nodes,
        "accuracy_budget": {**budget.to_dict(), "measured_on": HELD_OUT_DESCRIPTION, "measured": {
            k: evaluation[k] for k in ("accuracy_drop_points", "top1_agreement", "neighbour_agreement")}},
        "over_budget": over_budget,
        "graph_path_rule": "TopK over the input, plus its exclusive producers back to the projection and the "
                           "neighbour-weight/Gather consumers up to the mix with the sample's own features; the "
                           "novelty output's exclusive producers back to the hidden features",
        "key": key,
        "calibration_set": str(set_path),
        "calibration_set_origin": set_origin,
        "source_onnx_sha256": sha256_file(model),
        "activations": "int8 symmetric per-tensor",
        "weights": "int8 symmetric per-channel",
        "quantizer": "onnxruntime.quantization.quantize_static (QuantFormat.QDQ)",
    }
    int8_metadata = dataclasses.replace(
        metadata, precision="int8-qdq", extra={**(metadata.extra or {}), "calibration": calibration}
    )
    sidecar = write_onnx_with_metadata(int8_model, output, int8_metadata, extra_files=_thumbnail_files(model, metadata,
                                                                                                       output, warnings))

    latency = None
    if latency_iterations:
        latency = compare_cpu_latency(model, output, x_eval, iterations=latency_iterations,
                                      warmup=max(1, latency_iterations // 10), progress=progress)

    report_path = Path(report) if report is not None else default_report_path(output)
    result = {
        "model": str(model),
        "output": str(output),
        "output_sha256": sidecar["extra"]["onnx_sha256"],
        "report": str(report_path),
        "kind": metadata.kind,
        "calibration": {**calibration, **selection},
        "evaluation": evaluation,
        "over_budget": over_budget,
        "accuracy_budget": {**budget.to_dict(), "measured_on": HELD_OUT_DESCRIPTION, **fallback.to_dict(budget)},
        "qdq": {**qdq_node_counts(int8_model), "quantized_nodes": quantized_nodes(int8_model),
                "scales": qdq_scales(int8_model)},
        "tensorrt_check": {
            "verdict": trt_check["verdict"],
            "findings": [f for f in trt_check["findings"] if f["level"] in ("error", "warning")],
        },
        "latency": latency,
        "warnings": list(warnings),
        "seconds": round(time.perf_counter() - started, 3),
    }
    atomic_write_json(report_path, result)
    return result
