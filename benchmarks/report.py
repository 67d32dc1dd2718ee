"""The comparison report that justifies the method: teacher CNN vs the CNN2GNN student vs the baselines.

For one dataset spec and each seed (``--seeds``), it trains side by side, with the toolchain's own functions:
  1. the teacher CNN (``--teacher-arch/--teacher-width/--teacher-epochs``);
  2. the CNN2GNN student, distilled, with StudentConfig's defaults: anchor mode (deployment) and, unless
     ``--no-batch-student``, batch mode (the paper's protocol);
  3. the same student on labels only (CE, no teacher);
  4. a small CNN student of the anchor student's FLOPs, distilled with the same loss (the usual KD baseline);
  5. the ablation at equal stem: the student's conv stem with a plain linear head (a conv stem only);
  6. kNN on the raw node features against the student's anchor bank (k = the student's k);
and reports each model's test accuracy as mean, min, max and per seed. On the first seed's models it
measures parameters, stored constants, FLOPs per image, ONNX Runtime CPU latency (p50/p95 at batch 1,
throughput at batch 64, one interleaved run, threads fixed, warm-up) and INT8 Q/DQ accuracy and
latency. Then, on the first seed and for fewer epochs, it sweeps M and the stem (``--sweeps``), each
point with test accuracy and batch-1 latency. A "Targets" section checks issue 14's five must-show
items on the means. Writes <out>/<dataset>.json, <dataset>.md and two PNG plots.

    python benchmarks/report.py                       # digits, the full preset, seeds 0,1,2
    python benchmarks/report.py --data idx:runs/data/digits_large --image-size 28 --teacher-epochs 8 \
        --student-epochs 30 --baseline-epochs 30 --sweep-epochs 8
    python benchmarks/report.py --quick --out-dir /tmp/r # CI-sized smoke run (one seed)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from comparison.settings import Settings, preset

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Per-seed stages (the progress bar's), then the once-per-run ones.
SEED_STAGES = ("teacher", "CNN2GNN students", "CNN baselines", "test")
RUN_STAGES = ("sweeps", "cost", "export + INT8", "latency")


def dataset_name(spec: str) -> str:
    name, _, path = spec.partition(":")
    return Path(path.rstrip("/")).name if path else name


class Stages:
    """The outer progress bar and the seconds each stage took."""

    def __init__(self, names: list[str], progress: bool) -> None:
        self.bar = tqdm(total=len(names), desc="report", unit="stage", file=sys.stderr, disable=not progress)
        self.seconds: dict[str, float] = {}
        self._name: str | None = None
        self._started = 0.0

    def start(self, name: str) -> None:
        self._close()
        self._name, self._started = name, time.perf_counter()
        self.bar.set_description(f"report: {name}")

    def _close(self) -> None:
        if self._name is not None:
            self.seconds[self._name] = round(time.perf_counter() - self._started, 2)
            self.bar.update(1)
        self._name = None

    def finish(self) -> dict[str, float]:
        self._close()
        self.bar.close()
        return self.seconds


def build_report(s: Settings, work: Path, progress: bool, estimate: dict[str, Any] | None) -> dict[str, Any]:
    import torch

    from comparison.aggregate import aggregate_model, best_deployable, gaps
    from comparison.deployment import export_and_quantise, measure_cost, time_models
    from comparison.measure import SeedTestSplits
    from comparison.seed_run import evaluate_seed, train_seed
    from comparison.sweeps import measure_sweeps, run_sweeps
    from comparison.targets import DEPLOYABLE_STUDENTS, targets

    started = time.perf_counter()
    names = [f"seed {seed}: {n}" for seed in s.seeds for n in SEED_STAGES]
    stages = Stages(names + [n for n in RUN_STAGES if s.sweeps or n != "sweeps"], progress)
    models: dict[str, dict[str, Any]] = {}
    tests = SeedTestSplits(s.data)
    for seed in s.seeds:
        train_seed(s, seed, work / f"seed{seed}", models, progress, stages.start)
        stages.start(f"seed {seed}: test")
        evaluate_seed(s, seed, models, tests)
    for m in models.values():
        aggregate_model(m)

    first = s.latency_seed
    dataset = tests.dataset(first)
    sweeps: dict[str, Any] | None = None
    if s.sweeps:
        stages.start("sweeps")
        teacher = Path(models["teacher"]["seeds"][str(first)]["checkpoint"])
        sweeps = run_sweeps(s, work / f"seed{first}" / "sweeps", teacher, len(dataset.train), progress, stages.bar)

    stages.start("cost")
    measure_cost(s, models, first)
    stages.start("export + INT8")
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    pre = load_checkpoint(models["teacher"]["seeds"][str(first)]["checkpoint"]).preprocessing
    test = tests.tensors(first, pre)
    x_test, y_test = test.x.numpy(), test.y.numpy()
    export_and_quantise(s, models, first, work / "onnx", x_test, y_test, progress, stages.bar)
    stages.start("latency")
    time_models(s, models, x_test, progress)
    if sweeps is not None:
        sweeps = measure_sweeps(s, sweeps, tests, work / "onnx" / "sweeps", x_test, progress)

    best = best_deployable(models, DEPLOYABLE_STUDENTS)
    timings = stages.finish()
    return {
        "dataset": dataset_name(s.data),
        "settings": s.to_dict(),
        "student_config": load_checkpoint(models["cnn2gnn_anchor"]["seeds"][str(first)]["checkpoint"]).model_config,
        "num_test_images": int(len(test)),
        "num_train_images": int(len(dataset.train)),
        "num_val_images": int(len(dataset.val)),
        "models": models,
        "best_deployable": best,
        "gaps": gaps(models, best, ("teacher", "cnn_student", "cnn_stem_linear", "knn", "cnn2gnn_ce", "cnn2gnn_anchor",
                                    "cnn2gnn_batch")) if best else [],
        "targets": targets(models, sweeps, on_digits(s.data)),
        "sweeps": sweeps,
        "estimate": estimate,
        "stage_seconds": timings,
        "seconds": round(time.perf_counter() - started, 1),
        "torch_threads": torch.get_num_threads(),
    }


def environment(threads: int) -> dict[str, Any]:
    import torch

    from machine import onnxruntime_machine

    return {**onnxruntime_machine(), "torch": str(torch.__version__), "ort_threads": threads,
            "load_average_start": os.getloadavg()[0]}


def write_outputs(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    from cnn2gnn.contracts.atomic_io import atomic_write_bytes, atomic_write_json
    from comparison.markdown import report_markdown
    from comparison.plots import plot_accuracy_vs_latency, plot_sweeps

    name = report["dataset"]
    paths = {"json": out_dir / f"{name}.json", "markdown": out_dir / f"{name}.md",
             "accuracy_vs_latency": out_dir / f"{name}_accuracy_vs_latency.png"}
    if report.get("sweeps"):
        paths["sweeps"] = out_dir / f"{name}_sweeps.png"
    report["outputs"] = {k: str(v) for k, v in paths.items()}
    atomic_write_json(paths["json"], report)
    atomic_write_bytes(paths["markdown"], report_markdown(report).encode())
    plot_accuracy_vs_latency(report, paths["accuracy_vs_latency"])
    if "sweeps" in paths:
        plot_sweeps(report, paths["sweeps"])
    return paths


def _ints(text: str | None) -> list[int] | None:
    return None if text is None else [int(v) for v in text.split(",") if v.strip()]


def _m_values(text: str | None) -> list[Any] | None:
    return None if text is None else [v.strip() if v.strip() == "all" else int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from comparison.settings import OPTIONAL_SWEEPS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="digits", help="Dataset spec (digits, idx:PATH, imagefolder:PATH, ...).")
    ap.add_argument("--quick", action="store_true", help="CI-sized smoke run: tiny models, one seed, tiny sweeps.")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="Where the JSON, Markdown and PNGs go (default benchmarks/results; with --render, "
                         "REPORT_JSON's folder).")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="Keep checkpoints and ONNX models here (default: temp).")
    ap.add_argument("--seeds", default=None, help="Comma-separated seeds (default 0,1,2; --quick: 0). The first "
                    "seed's models are exported, timed and swept.")
    ap.add_argument("--image-size", type=int, default=None, help="Input size (square) for every model.")
    ap.add_argument("--teacher-arch", default=None, help="Teacher architecture (default resnet20).")
    ap.add_argument("--teacher-width", type=int, default=None, help="Teacher base width (default 32).")
    ap.add_argument("--teacher-epochs", type=int, default=None)
    ap.add_argument("--teacher-augment", default=None, help="Teacher augmentation (default shift).")
    ap.add_argument("--student-epochs", type=int, default=None, help="Epochs of every CNN2GNN student in the main table.")
    ap.add_argument("--baseline-epochs", type=int, default=None,
                    help="Epochs of the small CNN and the same-stem linear head (default 30).")
    ap.add_argument("--student-augment", default=None,
                    help="Augmentation of every student and CNN baseline (default: TrainConfig's).")
    ap.add_argument("--sweep-epochs", type=int, default=None, help="Epochs of each sweep point.")
    ap.add_argument("--sweeps", default=None,
                    help=f"Comma-separated sweeps to run: M, stem (the default pair) and optionally "
                         f"{', '.join(OPTIONAL_SWEEPS)}.")
    ap.add_argument("--m-values", default=None, help="M values of the M sweep, e.g. 128,256,512,all (capped at the "
                    "training-set size; all = every training image).")
    ap.add_argument("--no-sweeps", action="store_true", help="Skip every sweep.")
    ap.add_argument("--no-batch-student", action="store_true", help="Skip the paper's batch-graph student.")
    ap.add_argument("--no-estimate", action="store_true", help="Do not time a few steps of each model first.")
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default 1).")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--render", type=Path, default=None, metavar="REPORT_JSON",
                    help="Only write REPORT_JSON's Markdown and plots again (beside it, or to --out-dir), its targets "
                         "re-derived from its models: for a change in how the report reads, without training anything. "
                         "Takes no other option.")
    args = ap.parse_args(argv)
    if args.render is not None:
        given = [name for name, value in vars(args).items()
                 if name not in ("render", "out_dir") and value != ap.get_default(name)]
        if given:  # they would be silently ignored: the JSON holds the run's settings
            options = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            ap.error(f"--render takes no other option than --out-dir, got {options}")
        if not args.render.is_file():
            ap.error(f"--render: {args.render} is not a file; give a report's JSON, e.g. benchmarks/results/digits.json")
    return args


def settings_from_args(args: argparse.Namespace) -> Settings:
    from comparison.sweeps import KNOBS

    knobs = [] if args.no_sweeps else (None if args.sweeps is None else [k.strip() for k in args.sweeps.split(",")])
    unknown = [k for k in knobs or [] if k not in KNOBS]
    if unknown:
        raise SystemExit(f"--sweeps: unknown {unknown}; use some of {', '.join(KNOBS)}")
    overrides: dict[str, Any] = {
        "data": args.data, "seeds": _ints(args.seeds), "image_size": args.image_size,
        "teacher_arch": args.teacher_arch, "teacher_width": args.teacher_width, "teacher_epochs": args.teacher_epochs,
        "teacher_augment": args.teacher_augment, "student_epochs": args.student_epochs,
        "baseline_epochs": args.baseline_epochs, "student_augment": args.student_augment,
        "sweep_epochs": args.sweep_epochs, "threads": args.threads,
        "batch_student": False if args.no_batch_student else None,
    }
    return preset(args.quick, knobs, _m_values(args.m_values), **overrides)


def print_estimate(s: Settings) -> dict[str, Any]:
    """Time a few training steps of each model the run trains; print the whole run's estimated wall time."""
    from cnn2gnn.toolchain.data import load_dataset
    from comparison.estimate import estimate_seconds, format_estimate

    dataset = load_dataset(s.data, seed=s.latency_seed)
    shape = (dataset.channels, s.image_size, s.image_size)
    estimate = estimate_seconds(s, shape, dataset.num_classes, len(dataset.train), len(dataset.val),
                                len(dataset.split("test")))
    print(format_estimate(estimate), file=sys.stderr, flush=True)
    return estimate


def render(report_json: Path, out_dir: Path) -> dict[str, Path]:
    """Write a finished report's Markdown and plots again from its JSON, the targets derived anew from its models
    (what changed is the reading, not a number): no training, no timing; the command that measured it is kept."""
    from comparison.targets import targets

    report = json.loads(report_json.read_text())
    report["targets"] = targets(report["models"], report.get("sweeps"), on_digits(report["settings"]["data"]))
    return write_outputs(report, out_dir)


def on_digits(data: str) -> bool:
    """The embedded digits set, where issue 14's teacher-gap target applies (the distillation gain elsewhere)."""
    return data == "digits"


def main(argv: list[str] | None = None) -> int:
    from cnn2gnn.contracts.errors import Cnn2GnnError

    args = parse_args(argv)
    if args.render is not None:
        for kind, path in render(args.render, args.out_dir or args.render.parent).items():
            print(f"wrote {kind}: {path}")
        return 0
    args.out_dir = args.out_dir or RESULTS_DIR
    settings = settings_from_args(args)
    progress = not args.no_progress

    import torch

    # One thread: on a shared 2-core machine, two torch threads contend and every step gets slower.
    torch.set_num_threads(settings.torch_threads)
    env = environment(settings.threads)
    with tempfile.TemporaryDirectory(prefix="cnn2gnn-report-") as tmp:
        work = args.work_dir or Path(tmp)
        try:
            estimate = None if args.no_estimate else print_estimate(settings)
            report = build_report(settings, work, progress, estimate)
        except Cnn2GnnError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    report["environment"] = {**env, "load_average_end": os.getloadavg()[0]}
    report["command"] = " ".join(["python", "benchmarks/report.py", *(argv if argv is not None else sys.argv[1:])])
    paths = write_outputs(report, args.out_dir)
    print(Path(paths["markdown"]).read_text())
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
