"""INT8 within an accuracy budget: calibrate the ranges once, then quantise and measure every configuration
the float fallback (:mod:`cnn2gnn.calibration.float_fallback`) asks for against FP32 on held-out images.

The candidates are the nodes that read INT8 inputs once the always-float nodes (the graph path) are
excluded. That includes whatever feeds the projection (the patch stem's convolution): its rounding
reorders near-tied distances and so changes the neighbour sets, which the budget measures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.calibration.accuracy_budget import AccuracyBudget
from cnn2gnn.calibration.float_fallback import FallbackResult, search_float_fallback
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.progress import progress_bar


def int8_within_budget(
    work: Any, metadata: ModelMetadata, tensors: np.ndarray, method: str, always_float: list[str],
    num_bins: int | None, x_eval: np.ndarray, y_eval: np.ndarray, budget: AccuracyBudget, progress: bool,
) -> tuple[Any, FallbackResult]:
    """(the INT8 model, the float-fallback result): ranges calibrated once, then every configuration the
    fallback tries is quantised with them and measured against FP32 on the held-out images."""

    from cnn2gnn.calibration.neighbour_outputs import run_model
    from cnn2gnn.calibration.precision_comparison import compare_to_fp32
    from cnn2gnn.calibration.qdq_inspection import quantized_nodes
    from cnn2gnn.calibration.qdq_quantization import calibrated_ranges, qdq_onnx_from_ranges

    ranges = calibrated_ranges(work, tensors, metadata.input_name, method, num_bins, progress)
    fp32_out = run_model(work, metadata, x_eval, progress=progress, desc="evaluate fp32")
    models: dict[tuple[str, ...], Any] = {}

    def quantise(extra_float: list[str]) -> Any:
        key = tuple(sorted(extra_float))
        if key not in models:
            models[key] = qdq_onnx_from_ranges(work, ranges, method, always_float + list(key))
        return models[key]

    def measure(extra_float: list[str]) -> dict[str, Any]:
        int8_model = quantise(extra_float)
        int8_out = run_model(int8_model, metadata, x_eval)
        return {**compare_to_fp32(fp32_out, int8_out, y_eval), "int8_nodes": len(quantized_nodes(int8_model))}

    candidates = [n for n in quantized_nodes(quantise([])) if n not in always_float]
    with progress_bar(desc="accuracy budget", unit="config", enabled=progress, leave=False) as bar:
        fallback = search_float_fallback(candidates, measure, budget, progress=bar.update)
    return quantise(fallback.float_nodes), fallback


def over_budget_message(model: Path, output: Path, evaluation: dict[str, Any], fallback: FallbackResult,
                        budget: AccuracyBudget) -> str:
    """The refusal: the budget, the best configuration measured and its numbers, and the ways out."""
    best = fallback.comparison
    kept = ", ".join(fallback.float_nodes) or "none"
    return (
        f"{model}: no INT8 configuration meets the accuracy budget (drop <= {budget.max_drop_points} pt, top-1 "
        f"agreement >= {budget.min_top1_agreement}, neighbour agreement >= {budget.min_neighbour_agreement}) on "
        f"{evaluation['num_images']} held-out {evaluation['data']} [{evaluation['split']}] images. Best of "
        f"{len(fallback.trials)} configurations measured: extra float nodes [{kept}], drop "
        f"{best['accuracy_drop_points']:+.2f} pt, agreement {100 * best['top1_agreement']:.2f}%, neighbour agreement "
        + ("n/a" if best["neighbour_agreement"] is None else f"{100 * best['neighbour_agreement']:.2f}%")
        + f" ({'; '.join(budget.violations(best))}). Nothing was written to {output}. Loosen --max-drop / "
        "--min-agreement / --min-neighbour-agreement, or pass --allow-over-budget to write it anyway (marked "
        "over budget in its metadata and report)"
    )
