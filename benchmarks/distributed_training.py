"""Training throughput (images/s) at 1 and 2 processes (torchrun, Gloo on the CPU) for the teacher and the
CNN2GNN student on digits; JSON to benchmarks/results/distributed_training_cpu.json.

Every process runs one thread (OMP_NUM_THREADS=1), so 2 processes use 2 cores. Images/s counts the
training images of an epoch over the epoch's time (its training steps and its validation, as the
history records it), the median over the epochs after the first (warm-up). The global batch is the same
at 1 and 2 processes, so both runs do the same arithmetic; what 2 processes add is the all-reduce of
gradients (and, for the teacher, of every BatchNorm's statistics, forward and backward).

    OMP_NUM_THREADS=1 python benchmarks/distributed_training.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "distributed_training_cpu.json"
EPOCHS = 4
BATCH = 128
TEACHER = ["train-teacher", "--data", "digits", "--arch", "resnet8", "--width", "16", "--image-size", "16",
           "--augment", "none"]
STUDENT = ["distill", "-k", "10", "--anchors", "256", "--hidden", "64", "--proj-dim", "32", "--no-cache"]


def _run(args: list[str], processes: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
                if processes > 1 else [sys.executable])
    common = ["--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--device", "cpu", "--json"]
    t0 = time.perf_counter()
    done = subprocess.run([*launcher, "-m", "cnn2gnn.cli", *args, *common], env=env, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:1])} at {processes} processes failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    out_dir = Path(result["out_dir"])
    config = json.loads((out_dir / "config.json").read_text())
    history = result["history"]
    n_train = _train_size()
    per_epoch = [n_train / h["seconds"] for h in history[1:]]
    return {"processes": processes, "images_per_s": round(statistics.median(per_epoch), 1),
            "epoch_seconds": [round(h["seconds"], 3) for h in history], "wall_seconds_with_startup": round(wall, 1),
            "final_train_loss": history[-1]["train_loss"], "distributed": config["distributed"]}


def _train_size() -> int:
    from cnn2gnn.toolchain.data import load_dataset

    return len(load_dataset("digits", seed=0).train)


def main() -> None:
    rows: dict[str, list[dict[str, Any]]] = {"teacher": [], "student": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for processes in (1, 2):
            rows["teacher"].append(_run([*TEACHER, "--out", str(root / f"teacher{processes}")], processes))
        teacher = root / "teacher1" / "best.pt"
        for processes in (1, 2):
            rows["student"].append(_run([*STUDENT, "--teacher", str(teacher), "--out", str(root / f"student{processes}")],
                                        processes))
    report = {
        "benchmark": "training images/s at 1 and 2 processes (torchrun, Gloo, CPU), digits",
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": _torch_version(),
                    "note": "2 CPU cores shared with other engineers' jobs while this ran: the numbers are noisy, "
                            "and 2 processes compete for the same 2 cores with everything else"},
        "settings": {"epochs": EPOCHS, "global_batch_size": BATCH, "threads_per_process": 1, "teacher": TEACHER,
                     "student": STUDENT},
        "results": rows,
        "speedup_2_vs_1": {kind: round(r[1]["images_per_s"] / r[0]["images_per_s"], 2) for kind, r in rows.items()},
        "gpu": "not measured: no GPU machine was lent to this task (NCCL, --amp and --channels-last unmeasured)",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"speedup_2_vs_1": report["speedup_2_vs_1"],
                      **{k: [r["images_per_s"] for r in v] for k, v in rows.items()}}, indent=2))


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


if __name__ == "__main__":
    main()
