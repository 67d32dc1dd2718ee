"""Is a refitted engine the model it was refitted from? Its outputs against ONNX Runtime's on the anchors' images.

TensorRT's notes (tensorrt-notes, "Refit") say to measure refit engines before trusting them: 11.3 lists a
known issue where a refittable engine can drop a GEMM's bias, and the student's distance Gemm has one
(``anchor_z_sq``); without it the empty slots of a padded bank would turn into the nearest neighbours.
The images are the model's own anchors (its ``.anchors.npy`` thumbnails, up to :data:`CHECK_IMAGES`,
evenly spread so enrolled ones are among them), so the check needs no dataset on the device.

Pass: logits finite; top-1 agreement at least :data:`MIN_TOP1_AGREEMENT`; no neighbour index outside the
used anchors (an empty slot chosen); and for an FP32 engine (TF32 off), max |Δlogit| at most
:data:`FP32_MAX_LOGIT_DIFF` and identical neighbour sets for at least :data:`FP32_MIN_NEIGHBOUR_AGREEMENT` of
the images. FP16 / INT8 engines legitimately reorder near-tied neighbours, so for them neighbour agreement is
reported, not gated. :func:`compare_refit_outputs` is plain numpy; :func:`check_refitted_engine` runs both
backends (TensorRT and ONNX Runtime, imported when called).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cnn2gnn.contracts.anchor_bank import NEIGHBOUR_INDEX, NOVELTY, bank_record
from cnn2gnn.contracts.anchor_thumbnails import inputs_from_thumbnails, read_thumbnails
from cnn2gnn.contracts.metadata import ModelMetadata

CHECK_IMAGES = 256
MIN_TOP1_AGREEMENT = 0.99
FP32_MAX_LOGIT_DIFF = 1e-3
FP32_MIN_NEIGHBOUR_AGREEMENT = 0.99
FP32_MAX_NOVELTY_DIFF = 1e-3  # the novelty reads the refitted anchor_hidden: a wrong one shows here, not in the logits


def refit_check_images(onnx_path: Path, metadata: ModelMetadata) -> np.ndarray:
    """Up to :data:`CHECK_IMAGES` of the model's anchors as model inputs, evenly spread over the bank."""
    record = bank_record(metadata, str(onnx_path))
    thumbnails = read_thumbnails(onnx_path, record["thumbnails_sha256"])
    picked = np.unique(np.linspace(0, len(thumbnails) - 1, min(CHECK_IMAGES, len(thumbnails))).round().astype(int))
    return inputs_from_thumbnails(thumbnails[picked], metadata.preprocessing)


def compare_refit_outputs(engine: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], logits_name: str,
                          used_anchors: int, precision: str) -> dict[str, Any]:
    """The engine's outputs against ONNX Runtime's on the same images: the measures and ``passed``, with one
    ``problems`` sentence per failed condition."""
    got, want = np.asarray(engine[logits_name]), np.asarray(reference[logits_name])
    problems = []
    finite = bool(np.isfinite(got).all())
    if not finite:
        problems.append("the engine's logits hold inf or NaN")
    diff = float(np.abs(got - want).max()) if finite else float("inf")
    top1 = float((got.argmax(1) == want.argmax(1)).mean())
    if precision == "fp32" and diff > FP32_MAX_LOGIT_DIFF:
        problems.append(f"max |Δlogit| {diff:.3g} is above {FP32_MAX_LOGIT_DIFF:g} for an FP32 engine")
    if top1 < MIN_TOP1_AGREEMENT:
        problems.append(f"top-1 agreement {100 * top1:.1f}% is below {100 * MIN_TOP1_AGREEMENT:.0f}%")
    result: dict[str, Any] = {"images": len(got), "precision": precision, "max_abs_logit_diff": diff,
                              "top1_agreement": top1}
    if NEIGHBOUR_INDEX in engine and NEIGHBOUR_INDEX in reference:
        index, want_index = np.asarray(engine[NEIGHBOUR_INDEX]), np.asarray(reference[NEIGHBOUR_INDEX])
        outside = int(((index < 0) | (index >= used_anchors)).sum())
        same_sets = float((np.sort(index, axis=1) == np.sort(want_index, axis=1)).all(axis=1).mean())
        if outside:
            problems.append(f"{outside} neighbour indices lie outside the {used_anchors} used anchors (empty slots "
                            "were chosen: the distances lost their anchor_z_sq term)")
        if precision == "fp32" and same_sets < FP32_MIN_NEIGHBOUR_AGREEMENT:
            problems.append(f"identical neighbour sets for {100 * same_sets:.1f}% of the images, below "
                            f"{100 * FP32_MIN_NEIGHBOUR_AGREEMENT:.0f}% for an FP32 engine")
        result.update(neighbour_agreement=same_sets, neighbours_outside_bank=outside)
    if NOVELTY in engine and NOVELTY in reference:
        novelty = np.asarray(engine[NOVELTY], dtype=np.float64)
        novelty_diff = float(np.abs(novelty - reference[NOVELTY]).max()) if np.isfinite(novelty).all() else float("inf")
        if precision == "fp32" and novelty_diff > FP32_MAX_NOVELTY_DIFF:
            problems.append(f"max |Δnovelty| {novelty_diff:.3g} is above {FP32_MAX_NOVELTY_DIFF:g} for an FP32 engine")
        result.update(max_abs_novelty_diff=novelty_diff)
    result.update(passed=not problems, problems=problems)
    return result


def check_refitted_engine(engine_path: Path, onnx_path: Path, metadata: ModelMetadata, precision: str
                          ) -> dict[str, Any]:
    """Run the engine at ``engine_path`` (TensorRT) and ``onnx_path`` (ONNX Runtime, CPU) on the model's anchors
    and compare them (:func:`compare_refit_outputs`)."""
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.runtime.backends.tensorrt.runner import TensorRTRunner

    images = refit_check_images(onnx_path, metadata)
    with OnnxRuntimeRunner(onnx_path, providers=["CPUExecutionProvider"]) as onnx_runner:
        reference = onnx_runner.infer_outputs(images)
    with TensorRTRunner(engine_path) as engine_runner:
        outputs = engine_runner.infer_outputs(images)
    used = int(bank_record(metadata, str(onnx_path))["size"])
    return compare_refit_outputs(outputs, reference, metadata.output_name, used, precision)
