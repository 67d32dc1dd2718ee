"""The main job's INT8 recipe on 3 seeds, checked on the TEST split: is INT8 within budget every time?

    OMP_NUM_THREADS=1 python benchmarks/int8_budget_seeds.py [--seeds 0,1,2] [--data digits]

Per seed, the commands of ``scripts/main_job.sh`` (each with ``--seed``): ``train-teacher``,
``distill --stem patch``, ``export``, then ``calibrate`` with its default accuracy budget (measured
on the validation split, float fallback). FP32 and INT8 are then compared on every test image
(never seen by calibration or by the budget): accuracy drop, top-1 and neighbour agreement, against
drop <= 0.5 pt and agreement >= 99%. Also recorded: which nodes stayed float and why (measured harm),
the fully quantised model's numbers on validation, and the ONNX Runtime CPU latency FP32 vs INT8.

Prints a table; writes JSON (default benchmarks/results/int8_budget_<dataset>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.atomic_io import atomic_write_json

MAX_DROP_POINTS = 0.5
MIN_TOP1_AGREEMENT = 0.99
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cnn2gnn.cli", *args], check=True, stdout=subprocess.DEVNULL)


def test_comparison(fp32_path: Path, int8_path: Path, data: str) -> dict[str, Any]:
    import onnx

    from cnn2gnn.calibration.calibrate_onnx import CalibrationWarnings, evaluation_tensors, training_split_seed
    from cnn2gnn.calibration.calibration_data import image_source
    from cnn2gnn.calibration.neighbour_outputs import run_model
    from cnn2gnn.calibration.precision_comparison import compare_to_fp32
    from cnn2gnn.export.onnx_metadata import read_onnx_metadata

    metadata = read_onnx_metadata(fp32_path)
    source = image_source(data, training_split_seed(metadata))
    x, y, _ = evaluation_tensors(source, metadata, CalibrationWarnings(), "test")
    return compare_to_fp32(run_model(onnx.load(str(fp32_path)), metadata, x),
                           run_model(onnx.load(str(int8_path)), metadata, x), y)


def run_seed(seed: int, data: str, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    cli("train-teacher", "--data", data, "--seed", str(seed), "--out", str(work / "teacher"))
    cli("distill", "--teacher", str(work / "teacher" / "best.pt"), "--out", str(work / "student"), "--stem", "patch",
        "--seed", str(seed))
    cli("export", str(work / "student" / "best.pt"), "-o", str(work / "student.onnx"))
    trained = time.perf_counter() - started
    cli("calibrate", str(work / "student.onnx"), "--data", data, "-o", str(work / "student.int8.onnx"))
    report = json.loads((work / "student.int8.onnx.report.json").read_text())
    test = test_comparison(work / "student.onnx", work / "student.int8.onnx", data)
    budget = report["accuracy_budget"]
    return {
        "seed": seed,
        "test": test,
        "test_within_targets": bool(test["accuracy_drop_points"] <= MAX_DROP_POINTS
                                    and test["top1_agreement"] >= MIN_TOP1_AGREEMENT),
        "val": {k: report["evaluation"][k] for k in ("fp32_accuracy", "int8_accuracy", "accuracy_drop_points",
                                                     "top1_agreement", "neighbour_agreement")},
        "val_fully_quantised": {k: budget["baseline"][k] for k in ("accuracy_drop_points", "top1_agreement",
                                                                  "neighbour_agreement")},
        "float_nodes": budget["float_nodes"],
        "float_node_harm": {n: budget["sensitivity"][n] for n in budget["float_nodes"]},
        "graph_path_nodes": len(report["calibration"]["graph_path_nodes"]),
        "int8_nodes": len(report["qdq"]["quantized_nodes"]),
        "configurations_measured": budget["configurations_measured"],
        "over_budget": report["over_budget"],
        "latency": {str(r["batch_size"]): {"fp32_p50_ms": r["fp32_p50_ms"], "int8_p50_ms": r["int8_p50_ms"],
                                           "int8_speedup": r["int8_speedup"], "verdict": r["verdict"]}
                    for r in report["latency"]["results"]},
        "calibrate_seconds": report["seconds"],
        "train_export_seconds": round(trained, 1),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| seed | FP32 → INT8 test acc % | drop pt | top-1 agree % | neighbour agree % | val drop / neighbour "
             "agree % fully quantised | kept float | p50 b1 fp32/int8 ms | p50 b64 fp32/int8 ms | targets |",
             "|---:|---|---:|---:|---:|---|---|---|---|---|"]
    for r in runs:
        t, q, lat = r["test"], r["val_fully_quantised"], r["latency"]
        lines.append(
            f"| {r['seed']} | {_pct(t['fp32_accuracy'])} → {_pct(t['int8_accuracy'])} "
            f"| {t['accuracy_drop_points']:+.2f} | {_pct(t['top1_agreement'])} | {_pct(t['neighbour_agreement'])} "
            f"| {q['accuracy_drop_points']:+.2f} / {_pct(q['neighbour_agreement'])} "
            f"| {', '.join(r['float_nodes']) or '-'} "
            f"| {lat['1']['fp32_p50_ms']:.3f} / {lat['1']['int8_p50_ms']:.3f} "
            f"| {lat['64']['fp32_p50_ms']:.3f} / {lat['64']['int8_p50_ms']:.3f} "
            f"| {'met' if r['test_within_targets'] else 'MISSED'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds.")
    parser.add_argument("--data", default="digits", help="Dataset spec (the main job uses digits).")
    parser.add_argument("--out", type=Path, default=None, help="JSON results path.")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="int8-budget-") as tmp:
        runs = [run_seed(seed, args.data, Path(tmp) / f"seed{seed}") for seed in seeds]
    result = {
        "recipe": "scripts/main_job.sh: train-teacher, distill --stem patch, export, calibrate (default budget)",
        "data": args.data,
        "targets_on_test": {"max_accuracy_drop_points": MAX_DROP_POINTS, "min_top1_agreement": MIN_TOP1_AGREEMENT},
        "environment": {"onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
                        "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "all_within_targets": all(r["test_within_targets"] for r in runs),
        "runs": runs,
    }
    out = args.out or RESULTS_DIR / f"int8_budget_{args.data.partition(':')[0]}.json"
    atomic_write_json(out, result)
    print(table(runs))
    print(f"\nwrote {out}")
    return 0 if result["all_within_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
