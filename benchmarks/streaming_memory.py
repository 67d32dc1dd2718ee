"""Peak memory of the streaming loader vs the in-memory path, on a generated imagefolder of 50,000 images.

Writes ``runs/streaming_memory/images/<digit>/<i>.png`` (28x28 gray PNGs: sklearn's 8x8 digits upscaled,
shifted by up to 3 pixels and given a little noise, so no two files are alike; git-ignored, made once),
then, in a fresh interpreter per mode, loads the data as ``train-teacher`` does (``training_data``) and
makes one pass over the training split in the loop's global batches (batch 256, shift augmentation),
and reads the process's peak resident set size (``ru_maxrss``; DataLoader workers count as children)
and, with workers, each worker's current RSS after 10, 40 and all batches (flat if nothing accumulates).
Modes: in memory (``--stream off``), streamed in this process, streamed by 2 workers; each at two input
sizes, 32x32 and 64x64, so what grows with the decoded tensors shows. JSON to
benchmarks/results/streaming_memory.json.

    OMP_NUM_THREADS=1 python benchmarks/streaming_memory.py
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "streaming_memory.json"
FOLDER = REPO / "runs" / "streaming_memory" / "images"
IMAGES = 50_000
BATCH = 256
MODES = [("in memory", "off", 0), ("streamed", "on", 0), ("streamed, 2 workers", "on", 2)]
SIZES = (32, 64)
COMMAND = "OMP_NUM_THREADS=1 nice -n 10 python benchmarks/streaming_memory.py"


def make_folder(folder: Path = FOLDER, count: int = IMAGES) -> Path:
    """The imagefolder, written once (a marker file records that all ``count`` images are there)."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_digits

    marker = folder / f".complete-{count}"
    if marker.is_file():
        return folder
    bunch = load_digits()
    rng = np.random.default_rng(0)
    base = [cv2.resize((img * (255.0 / 16.0)).astype(np.uint8), (22, 22), interpolation=cv2.INTER_LINEAR)
            for img in bunch.images]
    for label in range(10):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        j = i % len(base)
        dy, dx = rng.integers(0, 7, size=2)
        canvas = np.zeros((28, 28), np.uint8)
        canvas[dy:dy + 22, dx:dx + 22] = base[j]
        noisy = np.clip(canvas.astype(np.int16) + rng.integers(-8, 9, size=canvas.shape), 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".png", noisy)
        encoded.tofile(folder / str(bunch.target[j]) / f"{i:06d}.png")
    marker.touch()
    return folder


def measure(folder: Path, stream: str, workers: int, size: int) -> dict[str, Any]:
    """In this (fresh) process: load as training does, one pass over the training batches, peak RSS."""
    import torch

    from cnn2gnn.contracts.preprocessing import Preprocessing
    from cnn2gnn.toolchain.data.image_split import image_batches
    from cnn2gnn.toolchain.data.tensors import augment_batch
    from cnn2gnn.toolchain.data.training_data import training_data
    from cnn2gnn.toolchain.training.evaluate import batch_slices

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = training_data(f"imagefolder:{folder}", 0, lambda c: Preprocessing.default_for(c, size), stream, workers)
    train, _ = data.split("train"), data.split("val")
    loaded = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(train), generator=gen)
    batches = [order[s] for s in batch_slices(len(train), BATCH)]
    checksum, worker_rss = 0.0, {}
    for n, images in enumerate(image_batches(train, batches, workers), 1):
        checksum += float(augment_batch(images, "shift", gen).sum())
        if workers and n in (10, 40, len(batches)):
            worker_rss[n] = children_rss_mib()
    return {"streamed": data.streamed, "reason": data.reason, "train_images": len(train), "load_s": round(loaded, 1),
            "pass_s": round(time.perf_counter() - t0 - loaded, 1), "checksum": checksum,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "worker_rss_mib_after_batches": worker_rss}


def children_rss_mib() -> list[float]:
    """The current RSS of each child process (the DataLoader workers), from /proc (Linux)."""
    rss = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid():
                status = (stat.parent / "status").read_text()
                rss.append(round(int(status.split("VmRSS:")[1].split()[0]) / 1024, 1))
        except (OSError, IndexError, ValueError):  # a process that ended while being read
            continue
    return sorted(rss)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--measure":
        print(json.dumps(measure(FOLDER, sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    t0 = time.perf_counter()
    make_folder()
    generated = time.perf_counter() - t0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    rows = []
    for size in SIZES:
        for name, stream, workers in MODES:
            proc = subprocess.run([sys.executable, __file__, "--measure", stream, str(workers), str(size)], env=env,
                                  capture_output=True, text=True, check=True)
            row = {"mode": name, "image_size": size, "workers": workers, **json.loads(proc.stdout.splitlines()[-1])}
            rows.append(row)
            print(f"{size}x{size} {name:20s} peak RSS {row['peak_rss_mib']:7.1f} MiB (workers {row['worker_peak_rss_mib']:.1f}"
                  f" MiB)  load {row['load_s']} s, one pass {row['pass_s']} s", flush=True)
    # The same images in the same order: every mode's pass must sum to the same value at one size.
    for size in SIZES:
        sums = {r["checksum"] for r in rows if r["image_size"] == size}
        assert len(sums) == 1, f"modes disagree at {size}x{size}: {sums}"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "command": COMMAND, "images": IMAGES, "batch_size": BATCH, "generate_s": round(generated, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {OUT}\ncommand: {COMMAND}")


if __name__ == "__main__":
    main()
