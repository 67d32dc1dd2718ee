"""Many cameras, one model: aggregate frames/s and per-source latency for 1, 2 and 4 live sources.

Each source is a ``synthetic://`` live camera (its own capture thread and bounded drop-oldest queue);
their frames share the model's batches (``cnn2gnn run``'s default batch for N sources is N). Two
settings per source count: cameras paced at ``--fps`` (can one model keep up with N of them, and at
what latency?) and unpaced sources (the most the loop delivers; the queues drop what it cannot take).

    OMP_NUM_THREADS=1 python benchmarks/multi_source.py [--model student.onnx] [--seconds 6]

Without ``--model`` a tiny linear digits classifier is fitted and exported with the tests' helpers
(8x8 gray input: the numbers are then the runtime's own overhead: capture, muxing, preprocessing).
Writes benchmarks/results/multi_source.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from machine import onnxruntime_machine

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(workdir: Path) -> Path:
    sys.path.insert(0, str(ROOT))  # the ONNX model writer lives with the test helpers
    from cnn2gnn.contracts.metadata import ModelMetadata
    from cnn2gnn.contracts.preprocessing import Preprocessing
    from cnn2gnn.toolchain.data import load_dataset
    from tests.runtime._onnx_models import fit_linear, write_linear_onnx

    digits = load_dataset("digits")
    spec = Preprocessing(height=8, width=8, channels=1, mean=(0.5,), std=(0.5,))
    weight, bias = fit_linear(digits.train.images, digits.train.labels, spec, digits.num_classes)
    meta = ModelMetadata(kind="student", class_names=list(digits.class_names), preprocessing=spec,
                         graph={"mode": "anchor", "k": 5, "num_anchors": 32})
    return write_linear_onnx(workdir / "tiny_student.onnx", weight, bias, meta)


def run_once(model: Path, sources: int, fps: float, seconds: float, size: str, threads: int | None,
             workdir: Path) -> dict[str, Any]:
    frames = int(round(fps * seconds)) if fps else 0
    specs = [f"synthetic://{size}?fps={fps:g}&live=1&seed={i}" + (f"&frames={frames}" if frames else "")
             for i in range(sources)]
    backend = OnnxRuntimeRunner(model, providers=["CPUExecutionProvider"], threads=threads)
    config = StreamConfig(source=specs[0] if sources == 1 else tuple(specs), out=workdir / "frames.jsonl",
                          status_every_s=0, max_frames=None if frames else int(1e9))
    stop = None
    if not frames:  # unpaced sources are endless: stop after the time box
        import threading

        stop = threading.Event()
        threading.Timer(seconds, stop.set).start()
    summary = run_stream(backend, config, stop=stop, log=lambda message: None, handle_signals=False)
    backend.close()
    per_source = summary.get("sources") or [{
        "fps": summary["fps"], "latency_ms": summary["latency_ms"], "frames": summary["frames"]}]
    return {
        "sources": sources,
        "source_fps": fps or None,
        "aggregate_fps": summary["fps"],
        "mean_batch": summary["mean_batch"],
        "batch_cap": summary["batching"]["max_frames"],
        "latency_ms": {k: summary["latency_ms"][k] for k in ("p50", "p95")},
        "per_source": [{"fps": s["fps"], "p50_ms": s["latency_ms"]["p50"], "p95_ms": s["latency_ms"]["p95"],
                        "captured": s["frames"]["captured"], "dropped": s["frames"]["dropped"]} for s in per_source],
        "status": summary["status"],
    }


def markdown(report: dict[str, Any]) -> str:
    env, cfg = report["environment"], report["config"]
    lines = [f"ONNX Runtime {env['onnxruntime']} CPU, {cfg['threads'] or 'default'} intra-op threads, "
             f"OMP_NUM_THREADS={env['omp_num_threads']}, {env['cpu_count']} cores (load average "
             f"{env['load_average_1min']:.1f}), model {cfg['model']}, {cfg['size']} frames, "
             f"{cfg['seconds']:g} s per row",
             "",
             "| sources | per-source fps in | aggregate fps | mean batch | per-source p50 ms | per-source p95 ms | "
             "dropped |",
             "|---:|---:|---:|---:|---|---|---|"]
    for r in report["results"]:
        p50 = " / ".join(f"{s['p50_ms']:.1f}" for s in r["per_source"])
        p95 = " / ".join(f"{s['p95_ms']:.1f}" for s in r["per_source"])
        drops = " / ".join(f"{s['dropped']}" for s in r["per_source"])
        rate = f"{r['source_fps']:g}" if r["source_fps"] else "unpaced"
        lines.append(f"| {r['sources']} | {rate} | {r['aggregate_fps']:.1f} | {r['mean_batch']:.2f} | {p50} | {p95} "
                     f"| {drops} |")
    lines += ["", *report["notes"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="An exported .onnx model (default: a tiny one).")
    parser.add_argument("--sources", default="1,2,4", help="Comma-separated source counts.")
    parser.add_argument("--fps", type=float, default=30.0, help="Frame rate of each paced camera.")
    parser.add_argument("--seconds", type=float, default=6.0, help="Length of each run.")
    parser.add_argument("--size", default="320x240", help="Frame size, WxH.")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "multi_source.json")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.sources.split(",")]

    with tempfile.TemporaryDirectory(prefix="multi_source_") as tmp:
        workdir = Path(tmp)
        model = args.model or tiny_model(workdir)
        run_once(model, 1, args.fps, 1.0, args.size, args.threads, workdir)  # warm-up: imports, ORT arenas
        results = [run_once(model, n, fps, args.seconds, args.size, args.threads, workdir)
                   for fps in (args.fps, 0.0) for n in counts]
    report = {
        "config": {"model": str(args.model) if args.model else "tiny linear digits student (8x8 gray)",
                   "sources": counts, "fps": args.fps, "seconds": args.seconds, "size": args.size,
                   "threads": args.threads, "queue": 4, "drop_policy": "drop-oldest", "batch_wait_ms": 10.0},
        "environment": {**onnxruntime_machine(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                        "load_average_1min": os.getloadavg()[0]},
        "notes": [
            "Measured on a shared machine (2 cores, several other jobs running), with OMP_NUM_THREADS=1 and one "
            "ONNX Runtime thread: absolute numbers are pessimistic; compare rows with each other.",
            "Latency is capture to result. With several sources a batch waits up to --batch-wait-ms (10 ms) for "
            "frames of the other cameras: that wait is most of the added per-source latency.",
            "Unpaced rows: each source delivers as fast as it can, so drops show how far the loop falls behind; "
            "aggregate fps is then the loop's ceiling for this model, split fairly (round-robin) between sources.",
        ],
        "results": results,
    }
    atomic_write_json(args.out, report)
    print(markdown(report))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
