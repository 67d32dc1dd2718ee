"""The experiments' teacher: train it on digits with shift augmentation and print its result line.

    OMP_NUM_THREADS=1 python benchmarks/student_exp/teacher.py resnet20 32 20 0 [--work runs/student_exp]

Arguments: arch, width, epochs, seed. The checkpoint goes to WORK/runs/teacher_ARCH_wWIDTH_eEPOCHS_sSEED/best.pt,
the path the student configs in ``results.jsonl`` name (``teacher_resnet20.json`` is this script's line).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("arch")
    parser.add_argument("width", type=int)
    parser.add_argument("epochs", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--work", type=Path, default=Path("runs/student_exp"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
    from cnn2gnn.toolchain.training.loop import TrainConfig
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    out = args.work / "runs" / f"teacher_{args.arch}_w{args.width}_e{args.epochs}_s{args.seed}"
    t0 = time.perf_counter()
    r = train_teacher("digits", out, TrainConfig(epochs=args.epochs, augment="shift", seed=args.seed, device="cpu"),
                      arch=args.arch, width=args.width, progress=False)
    seconds = time.perf_counter() - t0
    best = r["history"][r["best_epoch"] - 1]
    test_acc = evaluate_checkpoint(Path(r["best_checkpoint"]), None, "test", 64, "cpu")["accuracy"]
    print(json.dumps({"arch": args.arch, "width": args.width, "epochs": args.epochs, "seed": args.seed,
                      "train_s": seconds, "best_epoch": r["best_epoch"], "val_acc": best["val_accuracy"],
                      "val_loss": best["val_loss"], "test_acc": test_acc, "ckpt": r["best_checkpoint"]}))


if __name__ == "__main__":
    main()
