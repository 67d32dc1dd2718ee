"""Teacher vs student (and INT8 vs FP32 student) latency on ONNX Runtime's CPU provider, in one process.

The models are timed in interleaved rounds (teacher, student, int8, teacher, ...) so that drift in
the machine's speed (thermal throttling, other load) hits every model alike and the ratios stay fair.

    python benchmarks/bench_runtime.py --teacher runs/teacher.onnx --student runs/student.onnx \
        --student-int8 runs/student.int8.onnx --out runs/bench_runtime.json

Prints a Markdown table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
from cnn2gnn.runtime.bench import input_batch, latency_stats, timed_calls
from machine import onnxruntime_machine

ROLES = ("teacher", "student", "student_int8")


def measure(
    models: dict[str, Path], batch_size: int, warmup: int, iterations: int, rounds: int, threads: int | None
) -> dict[str, Any]:
    backends = {role: OnnxRuntimeRunner(path, providers=["CPUExecutionProvider"], threads=threads)
                for role, path in models.items()}
    batches = {role: input_batch(backend.metadata.preprocessing.input_shape, batch_size, seed=0)
               for role, backend in backends.items()}
    for role, backend in backends.items():
        timed_calls(backend, batches[role], iterations=warmup)
    per_round = max(1, iterations // rounds)
    times: dict[str, list[float]] = {role: [] for role in backends}
    with tqdm(total=per_round * rounds * len(backends), desc="timing", unit="it", file=sys.stderr) as bar:
        for _ in range(rounds):
            for role, backend in backends.items():
                times[role] += timed_calls(backend, batches[role], iterations=per_round, progress=bar)
    results = {}
    for role, backend in backends.items():
        meta = backend.metadata
        results[role] = {
            "path": str(models[role]),
            "kind": meta.kind,
            "precision": meta.precision,
            "input_shape": list(meta.preprocessing.input_shape),
            "graph": meta.graph,
            **latency_stats(times[role], batch_size),
        }
        backend.close()
    return results


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """p50 latency ratios; below 1 means the first-named model is faster."""
    p50 = {role: r["latency_ms"]["p50"] for role, r in results.items()}
    out = {}
    if "teacher" in p50 and "student" in p50:
        out["student_over_teacher_p50"] = p50["student"] / p50["teacher"]
    if "teacher" in p50 and "student_int8" in p50:
        out["student_int8_over_teacher_p50"] = p50["student_int8"] / p50["teacher"]
    if "student" in p50 and "student_int8" in p50:
        out["int8_over_fp32_p50"] = p50["student_int8"] / p50["student"]
    return out


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        f"ONNX Runtime {report['environment']['onnxruntime']} CPU, batch {cfg['batch_size']}, "
        f"{cfg['threads'] or 'default'} threads, {cfg['iterations']} timed calls per model in {cfg['rounds']} "
        f"interleaved rounds ({report['environment']['processor']}, {report['environment']['cpu_count']} cores)",
        "",
        "| model | precision | input | p50 ms | p95 ms | p99 ms | mean ms | images/s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for role, r in report["results"].items():
        lat = r["latency_ms"]
        shape = "x".join(map(str, r["input_shape"]))
        lines.append(
            f"| {role} | {r['precision']} | {shape} | {lat['p50']:.4f} | {lat['p95']:.4f} | {lat['p99']:.4f} "
            f"| {lat['mean']:.4f} | {r['throughput_ips']:.1f} |"
        )
    if report["ratios"]:
        lines.append("")
        for name, value in report["ratios"].items():
            lines.append(f"- {name}: {value:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, help="Teacher ONNX model.")
    parser.add_argument("--student", type=Path, help="FP32 student ONNX model.")
    parser.add_argument("--student-int8", type=Path, help="INT8 (Q/DQ) student ONNX model.")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=50, help="Warm-up calls per model.")
    parser.add_argument("--iterations", type=int, default=1000, help="Timed calls per model (split over the rounds).")
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved rounds.")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: all cores).")
    parser.add_argument("--out", type=Path, default=Path("bench_runtime.json"), help="JSON results file.")
    args = parser.parse_args(argv)

    models = {role: getattr(args, role) for role in ROLES if getattr(args, role) is not None}
    if not models:
        parser.error("give at least one of --teacher, --student, --student-int8")
    if args.batch_size < 1 or args.iterations < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--batch-size, --iterations and --rounds must be >= 1, --warmup >= 0")
    try:
        results = measure(models, args.batch_size, args.warmup, args.iterations, args.rounds, args.threads)
    except Cnn2GnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = {
        "config": {
            "batch_size": args.batch_size,
            "warmup": args.warmup,
            "iterations": max(1, args.iterations // args.rounds) * args.rounds,
            "rounds": args.rounds,
            "threads": args.threads,
            "provider": "CPUExecutionProvider",
        },
        "environment": onnxruntime_machine(),
        "results": results,
        "ratios": ratios(results),
    }
    atomic_write_json(args.out, report)
    print(markdown(report))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
