"""INT8 (Q/DQ) vs FP32 on the full TEST split: accuracy, agreement, neighbours and CPU latency per method.

    python benchmarks/int8_accuracy.py --model runs/student.onnx --model runs/teacher.onnx \
        --data digits --methods minmax,entropy,percentile

For every model, calibration method and graph-path setting (kept float, the default; and
``--quantize-graph``) the model is calibrated with ``cnn2gnn calibrate``'s own code (default accuracy
budget on the validation split, its float fallback, written even when over budget) on N training
images (one calibration set per model, so every method sees the same images), then FP32 and INT8 are
compared on every test image: accuracy and its drop in points, top-1 agreement, neighbour-set
agreement (students), mean |Δlogit|, and ONNX Runtime CPU latency p50 at batch 1 and 64 (measured in
the same run, interleaved, after warm-up). Targets: drop <= 0.5 pt and top-1 agreement >= 99%.

Prints a Markdown table; writes the numbers as JSON (default benchmarks/results/int8_<dataset>.json).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from machine import onnxruntime_machine

MAX_DROP_POINTS = 0.5
MIN_TOP1_AGREEMENT = 0.99
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def benchmark_model(model: Path, data: str | None, methods: list[str], num_images: int, seed: int,
                    latency_iterations: int, work_dir: Path) -> dict[str, Any]:
    import onnx

    from cnn2gnn.calibration.calibrate_onnx import (
        CalibrationWarnings,
        calibrate_onnx,
        evaluation_tensors,
        training_split_seed,
    )
    from cnn2gnn.calibration.calibration_data import image_source
    from cnn2gnn.calibration.neighbour_outputs import run_model
    from cnn2gnn.calibration.precision_comparison import compare_to_fp32
    from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model

    fp32_model = load_onnx_model(model)
    metadata = metadata_from_onnx_model(fp32_model, str(model))
    spec = data or (metadata.run_config or {}).get("data")
    if not spec:
        raise Cnn2GnnError(f"{model}'s metadata does not name its dataset: pass --data")
    source = image_source(spec, training_split_seed(metadata))
    warnings = CalibrationWarnings()
    x_test, y_test, _ = evaluation_tensors(source, metadata, warnings, "test")
    fp32_out = run_model(fp32_model, metadata, x_test, progress=True, desc="fp32 test")
    calibration_set = work_dir / f"{model.stem}.calibration.npz"
    rows = []
    # A model without a graph path (a teacher) gives the same model either way: measure it once.
    graph_settings = (False, True) if metadata.graph else (False,)
    for method in methods:
        for quantize_graph in graph_settings:
            output = work_dir / f"{model.stem}.int8.{method}{'.graph' if quantize_graph else ''}.onnx"
            report = calibrate_onnx(model, output, spec, num_images=num_images, method=method,
                                    quantize_graph=quantize_graph, calibration_set=calibration_set, seed=seed,
                                    latency_iterations=latency_iterations, allow_over_budget=True)
            int8_out = run_model(onnx.load(str(output)), metadata, x_test, progress=True, desc=f"int8 test ({method})")
            test = compare_to_fp32(fp32_out, int8_out, y_test)
            latency = {row["batch_size"]: row for row in report["latency"]["results"]}
            rows.append({
                "method": method,
                "graph_path": ("int8" if quantize_graph else "float") if metadata.graph else "none",
                "num_calibration_images": report["calibration"]["num_images"],
                "excluded_nodes": len(report["calibration"]["excluded_nodes"]),
                "fallback_float_nodes": report["calibration"]["fallback_float_nodes"],
                "over_budget_on_val": report["over_budget"],
                "test": test,
                "val": {k: report["evaluation"][k] for k in ("fp32_accuracy", "int8_accuracy", "top1_agreement",
                                                             "neighbour_agreement")},
                "latency": report["latency"],
                "p50_ms": {str(b): {"fp32": r["fp32_p50_ms"], "int8": r["int8_p50_ms"], "speedup": r["int8_speedup"]}
                           for b, r in latency.items()},
                "meets_targets": bool(test["accuracy_drop_points"] <= MAX_DROP_POINTS
                                      and test["top1_agreement"] >= MIN_TOP1_AGREEMENT),
                "output": str(output),
            })
    return {"model": str(model), "kind": metadata.kind, "graph": metadata.graph, "data": spec,
            "num_test_images": int(len(y_test)), "fp32_test_accuracy": rows[0]["test"]["fp32_accuracy"],
            "rows": rows, "warnings": list(warnings)}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    env, cfg = report["environment"], report["config"]
    lines = [
        f"INT8 Q/DQ vs FP32 on the test split ({cfg['num_images']} calibration images from train, seed {cfg['seed']}); "
        f"ONNX Runtime {env['onnxruntime']} CPU, {env['cpu_count']} cores ({env['processor']}); "
        f"targets: drop <= {MAX_DROP_POINTS} pt, top-1 agreement >= {100 * MIN_TOP1_AGREEMENT:.0f}%",
        "",
        "| model | method | graph path | FP32 acc % | INT8 acc % | drop pt | top-1 agree % | neighbour agree % "
        "| mean abs Δlogit | p50 b1 fp32/int8 ms | p50 b64 fp32/int8 ms | targets |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in report["models"]:
        name = f"{Path(result['model']).name} ({result['kind']}, {result['num_test_images']} test images)"
        for row in result["rows"]:
            t, p = row["test"], row["p50_ms"]
            lines.append(
                f"| {name} | {row['method']} | {row['graph_path']} | {_pct(t['fp32_accuracy'])} "
                f"| {_pct(t['int8_accuracy'])} | {t['accuracy_drop_points']:+.2f} | {_pct(t['top1_agreement'])} "
                f"| {_pct(t['neighbour_agreement'])} | {t['mean_abs_logit_diff']:.4f} "
                f"| {p['1']['fp32']:.3f} / {p['1']['int8']:.3f} | {p['64']['fp32']:.3f} / {p['64']['int8']:.3f} "
                f"| {'met' if row['meets_targets'] else 'MISSED'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from cnn2gnn.calibration.qdq_quantization import CALIBRATION_METHODS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True,
                        help="FP32 ONNX model from `cnn2gnn export` (repeat for several).")
    parser.add_argument("--data", default=None, help="Dataset spec (default: each model's training data).")
    parser.add_argument("--methods", default=",".join(CALIBRATION_METHODS), help="Comma-separated calibration methods.")
    parser.add_argument("--num-images", type=int, default=512, help="Calibration images (from the training split).")
    parser.add_argument("--seed", type=int, default=0, help="Calibration-image draw seed.")
    parser.add_argument("--latency-iterations", type=int, default=200, help="Timed runs per batch size and model.")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="Where the INT8 models go (default: a temporary dir).")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON results (default benchmarks/results/int8_<dataset>.json).")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in CALIBRATION_METHODS]
    if not methods or unknown:
        parser.error(f"--methods takes {', '.join(CALIBRATION_METHODS)}; got {args.methods!r}")
    if args.num_images < 1 or args.latency_iterations < 1:
        parser.error("--num-images and --latency-iterations must be >= 1")

    with tempfile.TemporaryDirectory(prefix="int8-accuracy-") as tmp:
        work_dir = args.work_dir or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            results = [benchmark_model(m, args.data, methods, args.num_images, args.seed, args.latency_iterations,
                                       work_dir) for m in args.model]
        except Cnn2GnnError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    dataset = results[0]["data"].partition(":")[0]
    report = {
        "config": {"methods": methods, "num_images": args.num_images, "seed": args.seed,
                   "latency_iterations": args.latency_iterations, "split": "test",
                   "targets": {"max_accuracy_drop_points": MAX_DROP_POINTS, "min_top1_agreement": MIN_TOP1_AGREEMENT}},
        "environment": onnxruntime_machine(),
        "models": results,
    }
    out = args.out or RESULTS_DIR / f"int8_{dataset}.json"
    atomic_write_json(out, report)
    print(markdown(report))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
