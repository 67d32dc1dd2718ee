"""``cnn2gnn calibrate``: an FP32 cnn2gnn ONNX model -> its INT8 Q/DQ model, calibration set and report.

Steps: read the model and its metadata; take N class-balanced images from the TRAINING split of the
data the model was trained on (same split seed), preprocessed with the model's own metadata; save
them as a keyed calibration set (or reuse a matching one); quantise with ONNX Runtime (graph path
kept float unless ``quantize_graph``); measure FP32 vs INT8 on the VALIDATION split and on the CPU;
write the Q/DQ model with its metadata and the report, each atomically.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_json, sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata

DEFAULT_NUM_IMAGES = 512
EVALUATION_SPLIT = "val"


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
    from tqdm import tqdm

    from cnn2gnn.calibration.calibration_data import PreprocessedImages
    from cnn2gnn.calibration.stratified_selection import select_stratified

    train = source.split("train")
    images = PreprocessedImages(train, metadata)
    with tqdm(total=min(num_images, len(train)), desc="calibration images", unit="img", disable=not progress) as bar:

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


def fp32_vs_int8(fp32: Any, int8: Any, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy of each, the drop in points, top-1 agreement, |Δlogit| and neighbour-set agreement."""
    from cnn2gnn.calibration.neighbour_outputs import neighbour_agreement
    from cnn2gnn.runtime.compare import logit_agreement

    acc32 = float((fp32.logits.argmax(axis=1) == labels).mean())
    acc8 = float((int8.logits.argmax(axis=1) == labels).mean())
    agreement = logit_agreement(fp32.logits, int8.logits)
    return {
        "num_images": int(len(labels)),
        "fp32_accuracy": acc32,
        "int8_accuracy": acc8,
        "accuracy_drop_points": 100.0 * (acc32 - acc8),
        "top1_agreement": agreement["top1_agreement"],
        "mean_abs_logit_diff": agreement["mean_abs_logit_diff"],
        "max_abs_logit_diff": agreement["max_abs_logit_diff"],
        "neighbour_agreement": neighbour_agreement(fp32, int8),
    }


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
    progress: bool = True,
) -> dict[str, Any]:
    """Calibrate ``model`` into the Q/DQ ``output``; returns the report (also written to ``report``).

    ``data`` defaults to the dataset the model was trained on (from its metadata). ``calibration_set``:
    reuse that file when its key matches, create it when missing, refuse it when the key differs;
    without it the set is written to ``<output>.calibration.npz``. ``latency_iterations=0`` skips the
    CPU latency measurement. ``num_bins`` overrides the histogram size of entropy/percentile.
    """
    import onnx

    from cnn2gnn.calibration.calibration_data import check_source_matches_model, image_source
    from cnn2gnn.contracts.calibration_set import save_calibration_set
    from cnn2gnn.calibration.cpu_latency import compare_cpu_latency
    from cnn2gnn.calibration.graph_path import ensure_node_names, find_graph_path
    from cnn2gnn.calibration.neighbour_outputs import run_model
    from cnn2gnn.calibration.qdq_inspection import qdq_node_counts, qdq_scales, quantized_nodes
    from cnn2gnn.calibration.qdq_quantization import CALIBRATION_METHODS, qdq_onnx_from_onnx
    from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model, write_onnx_with_metadata
    from cnn2gnn.export.tensorrt_compat import check_tensorrt_compatibility

    started = time.perf_counter()
    model, output = Path(model), Path(output)
    if output.suffix.lower() != ".onnx":
        raise Cnn2GnnError(f"output {output} must end in .onnx (e.g. model.int8.onnx)")
    if method not in CALIBRATION_METHODS:
        raise Cnn2GnnError(f"--method {method!r} unknown; use one of {', '.join(CALIBRATION_METHODS)}")
    if num_images < 1:
        raise Cnn2GnnError(f"--num-images must be at least 1, got {num_images} (a few hundred is typical)")
    if latency_iterations < 0:
        raise Cnn2GnnError(f"latency iterations must be >= 0, got {latency_iterations}")
    if output.exists() and model.exists() and output.resolve() == model.resolve():
        raise Cnn2GnnError(f"output {output} is the FP32 input model itself; write the INT8 model to another file")
    warnings = CalibrationWarnings()

    fp32_model = load_onnx_model(model)
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
    source = image_source(spec, split_seed)
    check_source_matches_model(source, metadata, str(model))
    trained_on = (metadata.extra or {}).get("dataset") or {}
    if source.fingerprint_is_content and trained_on.get("fingerprint") not in (None, "", source.fingerprint):
        warnings.add(f"--data {spec} is not the exact data {model} was trained on (its fingerprint differs from "
                     f"the one in the model's metadata, {trained_on.get('spec')!r})")

    set_path = Path(calibration_set) if calibration_set is not None else default_calibration_set_path(output)
    key = _calibration_set_key(model, metadata, source, split_seed, num_images, seed)
    if calibration_set is not None and set_path.exists():
        tensors, selection, set_origin = _reused_calibration_set(set_path, key, num_images, warnings), {}, "reused"
    else:
        tensors, selection = select_calibration_tensors(source, metadata, num_images, seed, warnings, progress)
        save_calibration_set(set_path, tensors, key)
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
    excluded = [] if quantize_graph else graph_path.nodes
    int8_model = qdq_onnx_from_onnx(work, tensors, metadata.input_name, method, excluded, num_bins, progress)

    trt_check = check_tensorrt_compatibility(int8_model, source=str(output))
    if trt_check["verdict"] == "incompatible":
        warnings.add(f"the Q/DQ model fails the static TensorRT check ({trt_check['errors']} error(s)); "
                     f"run `cnn2gnn check {output}` for the details")

    x_eval, y_eval, eval_failures = evaluation_tensors(source, metadata, warnings)
    fp32_out = run_model(work, metadata, x_eval, progress=progress, desc="evaluate fp32")
    int8_out = run_model(int8_model, metadata, x_eval, progress=progress, desc="evaluate int8")
    evaluation = {"data": spec, "split": EVALUATION_SPLIT, "failed_images": eval_failures,
                  **fp32_vs_int8(fp32_out, int8_out, y_eval)}

    calibration = {
        "method": method,
        "num_images": int(len(tensors)),
        "num_images_requested": int(num_images),
        "quantize_graph": bool(quantize_graph),
        "excluded_nodes": excluded,
        "graph_path_nodes": graph_path.nodes,
        "graph_path_rule": "TopK over the input, plus its exclusive producers back to the projection and the "
                           "neighbour-weight/Gather consumers up to the mix with the sample's own features",
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
    sidecar = write_onnx_with_metadata(int8_model, output, int8_metadata)

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
