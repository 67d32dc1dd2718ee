"""End-to-end stream throughput on the CPU with ONNX Runtime: frames/s through ``cnn2gnn run``'s loop and
where the time goes (capture = decoding, in its own thread; preprocess; inference; output = top-k + JSON).

The source is a video written once from the digits test images (each enlarged and placed on a
camera-sized canvas, MJPG-encoded like a USB camera's stream), processed frame by frame (block
policy: nothing dropped), so every model sees the same frames.

    python benchmarks/stream_throughput.py /tmp/stream_work/student.onnx /tmp/stream_work/teacher.onnx \
        --frames 2000 --out /tmp/stream_work/stream_throughput.json

Prints a Markdown table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from cnn2gnn.runtime.stream.stats import STAGES
from machine import onnxruntime_machine


def write_digit_video(path: Path, frames: int, width: int, height: int, fourcc: str) -> Path:
    """``frames`` frames: digits test images enlarged to fill a centred square of a noisy canvas."""
    import cv2

    from cnn2gnn.toolchain.data import load_dataset

    images = load_dataset("digits").test.images
    side = min(width, height) // 2
    rng = np.random.default_rng(0)
    background = rng.integers(0, 64, (height, width, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0, (width, height))
    if not writer.isOpened():
        raise Cnn2GnnError(f"OpenCV cannot write {fourcc} video to {path}")
    y, x = (height - side) // 2, (width - side) // 2
    for i in range(frames):
        frame = background.copy()
        digit = cv2.resize(images[i % len(images)], (side, side), interpolation=cv2.INTER_NEAREST)
        frame[y : y + side, x : x + side] = digit[:, :, None]
        writer.write(frame)
    writer.release()
    return path


def stream_once(model: Path, source: str, frames: int, batch: int, threads: int | None, workdir: Path,
                progress: bool) -> dict[str, Any]:
    backend = OnnxRuntimeRunner(model, providers=["CPUExecutionProvider"], threads=threads)
    config = StreamConfig(source=source, out=workdir / f"{model.stem}.b{batch}.jsonl", drop_policy="block",
                          batch_frames=batch, batch_wait_ms=0.0, max_frames=frames, status_every_s=0)
    with tqdm(total=frames, desc=f"{model.name} batch {batch}", unit="frame", disable=not progress,
              file=sys.stderr) as bar:
        summary = run_stream(backend, config, log=lambda message: None, handle_signals=False,
                             on_batch=lambda stats: bar.update(stats.processed - bar.n))
    backend.close()
    return summary


def measure(models: list[Path], source: str, frames: int, batches: list[int], threads: int | None,
            warmup: int, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for model in models:
        for batch in batches:
            stream_once(model, source, warmup, batch, threads, workdir, progress=False)  # page cache, ORT arenas
            summary = stream_once(model, source, frames, batch, threads, workdir, progress=True)
            rows.append({
                "model": str(model),
                "kind": summary["model"]["kind"],
                "batch": batch,
                "frames": summary["frames"]["processed"],
                "fps": summary["fps"],
                "latency_ms": summary["latency_ms"],
                "stage_ms_per_frame": summary["stage_ms_per_frame"],
                "loop_share": summary["loop_share"],
                "mean_batch": summary["mean_batch"],
                "source": summary["source"],
            })
    return rows


def markdown(report: dict[str, Any]) -> str:
    cfg, env = report["config"], report["environment"]
    lines = [
        f"ONNX Runtime {env['onnxruntime']} CPU, OpenCV {env['opencv']}, {cfg['threads'] or 'default'} threads, "
        f"{cfg['frames']} frames of {cfg['source']} ({env['processor']}, {env['cpu_count']} cores, "
        f"load average {env['load_average_1min']:.1f})",
        "",
        "| model | batch | frames/s | p50 ms | p95 ms | " + " | ".join(f"{s} ms/frame" for s in STAGES) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(STAGES),
    ]
    for r in report["results"]:
        stages = " | ".join(f"{r['stage_ms_per_frame'][s]:.3f}" for s in STAGES)
        lines.append(f"| {r['kind']} ({Path(r['model']).name}) | {r['batch']} | {r['fps']:.1f} | "
                     f"{r['latency_ms']['p50']:.2f} | {r['latency_ms']['p95']:.2f} | {stages} |")
    lines += ["", "capture runs in its own thread, overlapping the rest; queue is a frame's wait for the loop."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+", help="Exported .onnx models (student, teacher, ...).")
    parser.add_argument("--frames", type=int, default=1000, help="Frames timed per model and batch size.")
    parser.add_argument("--source", default=None, help="A stream source instead of the generated digits video.")
    parser.add_argument("--size", default="640x480", help="Generated video size, WxH.")
    parser.add_argument("--fourcc", default="MJPG", help="Generated video codec (MJPG: a USB camera's stream).")
    parser.add_argument("--batch", default="1", help="Comma-separated micro-batch sizes, e.g. 1,8.")
    parser.add_argument("--warmup", type=int, default=50, help="Frames streamed untimed before each measurement.")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: all cores).")
    parser.add_argument("--out", type=Path, default=Path("stream_throughput.json"), help="JSON results file.")
    args = parser.parse_args(argv)

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        batches = [int(b) for b in args.batch.split(",")]
    except ValueError:
        parser.error("--size is WxH and --batch comma-separated integers")
    if args.frames < 1 or args.warmup < 1 or min(batches) < 1:
        parser.error("--frames, --warmup and --batch must be >= 1")
    import cv2

    with tempfile.TemporaryDirectory(prefix="stream_throughput_") as tmp:
        workdir = Path(tmp)
        source = args.source or str(write_digit_video(workdir / "digits.avi", args.frames, width, height, args.fourcc))
        try:
            results = measure(args.models, source, args.frames, batches, args.threads, args.warmup, workdir)
        except Cnn2GnnError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return getattr(exc, "exit_code", 1)
    report = {
        "config": {"frames": args.frames, "batches": batches, "threads": args.threads, "warmup": args.warmup,
                   "source": args.source or f"generated {width}x{height} {args.fourcc} digits video",
                   "provider": "CPUExecutionProvider", "drop_policy": "block"},
        "environment": {**onnxruntime_machine(), "opencv": cv2.__version__,
                        # Other processes share the cores: the load says how far to trust the numbers.
                        "load_average_1min": os.getloadavg()[0]},
        "results": results,
    }
    atomic_write_json(args.out, report)
    print(markdown(report))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
