"""One student run of the experiments in this folder's README; appends its result line to WORK/results.jsonl.

    OMP_NUM_THREADS=1 python benchmarks/student_exp/exp.py '<json>' [--work runs/student_exp]

JSON keys: name; kind (gnn | cnn, default gnn); student (StudentConfig fields, gnn) or widths (cnn);
teacher (a checkpoint path, or null for labels only with ``data``); epochs (30); augment (shift); seed
(0); lam (0.7); T (4.0); lr (2e-3); select (val_loss); bs1 (also evaluate at batch 1). Each line of
``results.jsonl`` starts with the JSON its run was given, so rerun a line by passing those keys back.
Runs go to WORK/runs/NAME_sSEED, teacher logits to WORK/cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

BENCHMARKS = Path(__file__).resolve().parents[1]  # comparison/ (FLOPs, the deployed module) lives there


def run(c: dict[str, Any], work: Path) -> dict[str, Any]:
    sys.path.insert(0, str(BENCHMARKS))
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
    from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
    from cnn2gnn.toolchain.training.loop import TrainConfig
    from comparison.flops import flops_per_image
    from comparison.training import deployed_module

    seed = c.get("seed", 0)
    tc = TrainConfig(epochs=c.get("epochs", 30), augment=c.get("augment", "shift"), seed=seed, device="cpu",
                     lr=c.get("lr", 2e-3), select=c.get("select", "val_loss"))
    teacher = Path(c["teacher"]) if c.get("teacher") else None
    data = None if teacher else c.get("data", "digits")
    out = work / "runs" / f"{c['name']}_s{seed}"
    cache = work / "cache"
    t0 = time.perf_counter()
    if c.get("kind", "gnn") == "gnn":
        from cnn2gnn.toolchain.distill.distill_student import distill_student

        r = distill_student(data, out, tc, c.get("student", {}), teacher, lam=c.get("lam", 0.7),
                            temperature=c.get("T", 4.0), cache_dir=cache, progress=False)
    else:
        from cnn2gnn.toolchain.distill.distill_cnn_student import distill_cnn_student

        r = distill_cnn_student(data, out, tc, c["widths"], teacher, lam=c.get("lam", 0.7),
                                temperature=c.get("T", 4.0), cache_dir=cache, progress=False)
    seconds = time.perf_counter() - t0
    best = r["history"][r["best_epoch"] - 1]
    ckpt = Path(r["best_checkpoint"])
    test_acc = evaluate_checkpoint(ckpt, None, "test", 64, "cpu")["accuracy"]
    test_acc_bs1 = evaluate_checkpoint(ckpt, None, "test", 1, "cpu")["accuracy"] if c.get("bs1") else None
    payload = load_checkpoint(ckpt)
    mc = payload.model_config
    flops = flops_per_image(deployed_module(payload), (mc["in_channels"], mc["height"], mc["width"]))
    model = model_from_checkpoint(payload)
    extra = {"alpha": float(model.alpha), "beta": float(model.label_scale)} if hasattr(model, "alpha") else {}
    return {**c, "train_s": round(seconds, 1), "best_epoch": r["best_epoch"], "val_acc": best["val_accuracy"],
            "val_loss": round(best["val_loss"], 4), "last_val_acc": r["history"][-1]["val_accuracy"],
            "test_acc": test_acc, "test_acc_bs1": test_acc_bs1, "mflops": round(flops / 1e6, 3), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="the run's JSON (see the module docstring)")
    parser.add_argument("--work", type=Path, default=Path("runs/student_exp"), help="runs, teacher-logit cache, results.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run(json.loads(args.config), args.work)
    print(json.dumps(result))
    args.work.mkdir(parents=True, exist_ok=True)
    with open(args.work / "results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
