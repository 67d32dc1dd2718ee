"""The calibration report as a person reads it: what was calibrated on, what it cost, how fast it runs."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def format_latency(latency: dict[str, Any] | None) -> list[str]:
    if latency is None:
        return ["CPU latency: not measured"]
    lines = [f"ONNX Runtime CPU latency (p50 of {latency['iterations']} runs in {latency['rounds']} interleaved rounds "
             f"after {latency['warmup']} warm-up, {latency['cpu_count']} cores):",
             f"  {'batch':>5}  {'fp32 ms':>9}  {'int8 ms':>9}  {'int8 speed-up':>13}"]
    for row in latency["results"]:
        lines.append(f"  {row['batch_size']:>5}  {row['fp32_p50_ms']:>9.3f}  {row['int8_p50_ms']:>9.3f}  "
                     f"{row['int8_speedup']:>12.2f}x  {row['verdict']}")
    return lines


def _limit(value: float | None, fraction: bool) -> str:
    if value is None:
        return "not checked"
    return f"{100 * value:.2f}%" if fraction else f"{value} pt"


def format_accuracy_budget(result: dict[str, Any]) -> list[str]:
    """The budget, whether the model meets it, and every node kept float for it with its measured harm."""
    budget = result["accuracy_budget"]
    verdict = "OVER BUDGET (written because of --allow-over-budget)" if result["over_budget"] else "within budget"
    lines = [f"accuracy budget (on {budget['measured_on']}): drop <= {_limit(budget['max_drop_points'], False)}, "
             f"top-1 agreement >= {_limit(budget['min_top1_agreement'], True)}, neighbour agreement >= "
             f"{_limit(budget['min_neighbour_agreement'], True)}: {verdict}"]
    if budget["violations"]:
        lines.append(f"  misses: {'; '.join(budget['violations'])}")
    if budget["baseline_violations"]:
        lines.append(f"  with only the graph path float it missed: {'; '.join(budget['baseline_violations'])}; "
                     f"{budget['configurations_measured']} configurations measured")
    if not budget["float_nodes"]:
        lines.append("  no node kept float beyond the graph path")
    for node in budget["float_nodes"]:
        harm = budget["sensitivity"][node]
        gain = harm["neighbour_agreement_gain"]
        lines.append(f"  kept float: {node}  (measured harm: putting it alone back to float gained "
                     f"{100 * harm['top1_agreement_gain']:+.2f}% top-1 agreement, "
                     + ("" if gain is None else f"{100 * gain:+.2f}% neighbour agreement, ")
                     + f"{harm['accuracy_drop_reduction_points']:+.2f} pt accuracy)")
    return lines


def format_calibration_report(result: dict[str, Any]) -> str:
    cal, ev, qdq = result["calibration"], result["evaluation"], result["qdq"]
    graph = ("quantised (--quantize-graph)" if cal["quantize_graph"]
             else f"kept float ({len(cal['graph_path_nodes'])} nodes)")
    scales = qdq["scales"]
    act = list(scales["activations"].values())
    weights = scales["weights"]
    per_channel = sum(1 for w in weights.values() if w["per_channel"])
    lines = [
        f"{result['model']} -> {result['output']}  [int8-qdq, {cal['method']}]",
        f"calibration: {cal['num_images']} training images (asked {cal['num_images_requested']}), "
        f"set {cal['calibration_set']} ({cal['calibration_set_origin']})",
        f"graph path (projection -> distances -> TopK -> neighbour weights; the novelty's cosines): {graph}",
        f"Q/DQ: {qdq['QuantizeLinear']} QuantizeLinear, {qdq['DequantizeLinear']} DequantizeLinear, "
        f"{len(qdq['quantized_nodes'])} nodes read INT8 inputs; zero points all 0: {scales['zero_points_all_zero']}; "
        f"{len(act)} activation scales"
        + (f" ({min(act):.3g}..{max(act):.3g})" if act else "")
        + f", {len(weights)} quantised weights ({per_channel} per-channel)",
        f"static TensorRT check: {result['tensorrt_check']['verdict']}",
        f"FP32 vs INT8 on {ev['num_images']} {ev['data']} [{ev['split']}] images:",
        f"  {'':<22}{'fp32':>9}  {'int8':>9}",
        f"  {'accuracy':<22}{_pct(ev['fp32_accuracy']):>9}  {_pct(ev['int8_accuracy']):>9}   "
        f"(drop {ev['accuracy_drop_points']:+.2f} pt)",
        f"  {'top-1 agreement':<22}{_pct(ev['top1_agreement']):>20}",
        f"  {'neighbour agreement':<22}{_pct(ev['neighbour_agreement']):>20}",
        f"  {'mean |Δlogit|':<22}{ev['mean_abs_logit_diff']:>20.4g}",
        *format_accuracy_budget(result),
        *format_latency(result["latency"]),
    ]
    for warning in result["warnings"]:
        lines.append(f"warning: {warning}")
    lines.append(f"report: {result['report']}")
    return "\n".join(lines)
