"""Foundation targets on the embedded digits: teacher, distilled student, CE-only student.

Trains all three with the CLI defaults (as the README's main job does), evaluates on the test
split at batch sizes 1 and 64, and times each stage. Writes benchmarks/results/foundation_<data>.json.

    python benchmarks/foundation_digits.py [--data digits] [--seeds 0] [--stem none]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.toolchain.distill.distill_student import distill_student
from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig
from cnn2gnn.toolchain.training.train_teacher import train_teacher

# The CLI defaults, repeated here only where the CLI's and the library's defaults differ.
TEACHER = {"arch": "resnet8", "width": 32, "epochs": 20, "augment": "shift"}
STUDENT_EPOCHS = 60


def run_seed(data: str, seed: int, stem: str, work: Path) -> dict:
    out: dict = {"seed": seed, "stem": stem}
    t0 = time.perf_counter()
    teacher_cfg = TrainConfig(epochs=TEACHER["epochs"], augment=TEACHER["augment"], seed=seed)
    teacher = train_teacher(data, work / "teacher", teacher_cfg, arch=TEACHER["arch"], width=TEACHER["width"],
                            progress=False)
    out["teacher_train_s"] = time.perf_counter() - t0
    ckpt_t = Path(teacher["best_checkpoint"])
    student_cfg = {"stem": stem}
    for name, teacher_path in (("student_distilled", ckpt_t), ("student_ce_only", None)):
        t0 = time.perf_counter()
        res = distill_student(data if teacher_path is None else None, work / name,
                              TrainConfig(epochs=STUDENT_EPOCHS, seed=seed), student_cfg, teacher_path, cache_dir=None,
                              progress=False)
        out[f"{name}_train_s"] = time.perf_counter() - t0
        for bs in (1, 64):
            evaluation = evaluate_checkpoint(Path(res["best_checkpoint"]), None, "test", bs, "cpu")
            out[f"{name}_test_acc_bs{bs}"] = evaluation["accuracy"]
    for bs in (1, 64):
        out[f"teacher_test_acc_bs{bs}"] = evaluate_checkpoint(ckpt_t, None, "test", bs, "cpu")["accuracy"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="digits")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--stem", default="none", choices=("none", "patch"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            runs.append(run_seed(args.data, seed, args.stem, Path(tmp) / f"seed{seed}"))
            print(json.dumps(runs[-1]), file=sys.stderr)
    keys = [k for k in runs[0] if k not in ("seed", "stem")]
    summary = {k: {"mean": statistics.fmean(r[k] for r in runs), "min": min(r[k] for r in runs),
                   "max": max(r[k] for r in runs)} for k in keys}
    result = {"data": args.data, "stem": args.stem, "seeds": seeds, "runs": runs, "summary": summary,
              "torch": str(torch.__version__), "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
              "command": " ".join(["python"] + sys.argv)}
    name = args.data.split(":")[0]
    path = args.out or Path(__file__).parent / "results" / f"foundation_{name}_{args.stem}.json"
    atomic_write_json(path, result)
    print("| model | test acc, batch 1 | test acc, batch 64 | train time (s) |")
    print("|---|---|---|---|")
    for label, key in (("teacher (resnet8)", "teacher"),
                       (f"CNN2GNN student, distilled (anchor, stem={args.stem})", "student_distilled"),
                       (f"CNN2GNN student, CE only (anchor, stem={args.stem})", "student_ce_only")):
        s1, s64, t = summary[f"{key}_test_acc_bs1"], summary[f"{key}_test_acc_bs64"], summary[f"{key}_train_s"]
        print(f"| {label} | {s1['mean']:.4f} (min {s1['min']:.4f}) | {s64['mean']:.4f} | {t['mean']:.1f} |")
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
