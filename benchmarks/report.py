"""The comparison report that justifies the method: teacher CNN vs the CNN2GNN student vs the baselines.

For one dataset spec it trains, side by side and with the toolchain's own functions:
  1. the teacher CNN;
  2. the CNN2GNN student, distilled: anchor mode (deployment) and batch mode (the paper's protocol);
  3. the same student with cross-entropy only (no teacher);
  4. a small CNN student of similar FLOPs, distilled with the same loss (the usual KD baseline);
  5. kNN on the raw node features against the student's anchor bank (k = the student's k);
and measures for each: test accuracy at batch 1 and 64, parameters, stored constants, FLOPs per
image, ONNX Runtime CPU latency (p50/p95 at batch 1, throughput at batch 64, one interleaved run,
threads fixed, warm-up), and INT8 Q/DQ accuracy drop and latency. Then it sweeps the student's knobs
(k, M, T, λ) plus single-change variants, and trains the configuration they point to (chosen on
validation accuracy, never test). Writes <out>/<dataset>.json, <dataset>.md and two PNG plots.

    python benchmarks/report.py                       # digits, the full preset
    python benchmarks/report.py --data idx:data/digits_large --image-size 28 --teacher-epochs 4 \
        --student-epochs 20 --no-sweeps
    python benchmarks/report.py --quick --out-dir /tmp/r # CI-sized smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from comparison.settings import Settings, preset

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Whole-run stages, for the outer progress bar.
STAGES = ("teacher", "students", "small CNN", "kNN", "sweeps", "tuned", "evaluate", "export + INT8", "latency")


def dataset_name(spec: str) -> str:
    name, _, path = spec.partition(":")
    return Path(path.rstrip("/")).name if path else name


class Stages:
    """The outer progress bar and the seconds each stage took."""

    def __init__(self, names: tuple[str, ...], progress: bool) -> None:
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


def _model_record(name: str, label: str, checkpoint: Path | None, train: dict[str, Any] | None) -> dict[str, Any]:
    record: dict[str, Any] = {"name": name, "label": label, "checkpoint": str(checkpoint) if checkpoint else None,
                              "notes": []}
    if train is not None:
        record["training"] = {"best_val_accuracy": train["best_val_accuracy"], "best_epoch": train["best_epoch"],
                              "epochs": train["epochs"],
                              "seconds": round(sum(h["seconds"] for h in train["history"]), 2)}
    return record


def _cost(record: dict[str, Any], module: Any, train_module: Any, input_shape: tuple[int, ...], batch: int = 1) -> None:
    from comparison.flops import constant_count, flops_per_image, parameter_count

    record["params"] = parameter_count(train_module)
    record["constants"] = constant_count(module) if module is not None else 0
    record["flops_per_image"] = flops_per_image(module if module is not None else train_module, input_shape, batch)


def build_report(s: Settings, work: Path, progress: bool) -> dict[str, Any]:
    import torch

    from cnn2gnn.toolchain.baselines.knn import knn_from_student
    from cnn2gnn.toolchain.data import load_dataset
    from cnn2gnn.toolchain.data.tensors import tensors_from_split
    from cnn2gnn.toolchain.models.student import CNN2GNNStudent
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
    from comparison.baseline_export import onnx_from_module
    from comparison.flops import cnn_widths_matching, flops_per_image
    from comparison.latency import measure_latency, summary
    from comparison.measure import (
        checkpoint_test_accuracy,
        export_checkpoint,
        int8_test_comparison,
        module_test_accuracy,
        shuffled_test_accuracy,
    )
    from comparison.sweeps import KNOB_LABELS, default_value, run_sweeps, train_tuned, tuned_changes
    from comparison.training import deployed_module, distill_cnn, distill_gnn, train_teacher_model

    started = time.perf_counter()
    stages = Stages(STAGES if s.sweeps else tuple(n for n in STAGES if n not in ("sweeps", "tuned")), progress)
    models: dict[str, dict[str, Any]] = {}

    stages.start("teacher")
    teacher = train_teacher_model(s, work / "teacher", progress)
    teacher_ckpt = Path(teacher["best_checkpoint"])
    teacher_payload = load_checkpoint(teacher_ckpt)
    pre = teacher_payload.preprocessing
    models["teacher"] = _model_record("teacher", f"teacher CNN ({s.teacher_arch}, width {s.teacher_width})",
                                      teacher_ckpt, teacher)

    stages.start("students")
    for name, label, graph_mode, from_teacher in (
        ("cnn2gnn_anchor", "CNN2GNN student, distilled (anchor)", "anchor", True),
        ("cnn2gnn_batch", "CNN2GNN student, distilled (batch, paper)", "batch", True),
        ("cnn2gnn_ce", "CNN2GNN student, CE only (anchor)", "anchor", False),
    ):
        stages.bar.set_postfix_str(name)
        result = distill_gnn(s, work / name, teacher_ckpt if from_teacher else None, s.student_epochs, progress,
                             graph_mode=graph_mode)
        models[name] = _model_record(name, label, Path(result["best_checkpoint"]), result)

    stages.start("small CNN")
    student_payload = load_checkpoint(models["cnn2gnn_anchor"]["checkpoint"])
    anchor_student = model_from_checkpoint(student_payload)
    deployed_student = deployed_module(student_payload)
    assert isinstance(anchor_student, CNN2GNNStudent) and deployed_student is not None
    student_flops = flops_per_image(deployed_student, pre.input_shape)
    widths, cnn_flops = cnn_widths_matching(student_flops, *pre.input_shape, len(teacher_payload.class_names))
    result = distill_cnn(s, work / "cnn_student", teacher_ckpt, widths, progress)
    models["cnn_student"] = _model_record("cnn_student", f"small CNN student, distilled (widths {widths})",
                                          Path(result["best_checkpoint"]), result)
    models["cnn_student"]["notes"].append(
        f"widths {widths} chosen so its FLOPs ({cnn_flops / 1e6:.3f} M) are the closest to the anchor student's "
        f"({student_flops / 1e6:.3f} M); same teacher, loss (λ={s.lam}, T={s.temperature}), data and epochs")

    stages.start("kNN")
    knn = knn_from_student(anchor_student, s.knn_vote)
    models["knn"] = _model_record("knn", f"kNN on the anchor bank (raw pixels, k={knn.k}, {s.knn_vote} vote)",
                                  None, None)
    models["knn"]["notes"].append(
        f"the anchor student's {knn.anchors.shape[0]} anchors ({student_payload.model_config['anchor_selection']}), "
        f"flattened preprocessed images as features; no training; exported to ONNX (MatMul + TopK + Gather)")

    sweep_report: dict[str, Any] | None = None
    if s.sweeps:
        stages.start("sweeps")
        sweeps = run_sweeps(s, work / "sweeps", teacher_ckpt, progress, stages.bar)
        stages.start("tuned")
        changes = tuned_changes(s, sweeps)
        sweep_report = {"epochs": s.sweep_epochs, "raw": sweeps, "tuned": {"changes": changes}}
        if changes:
            tuned = train_tuned(s, work / "tuned", teacher_ckpt, changes, progress)
            record = _model_record("cnn2gnn_tuned", "CNN2GNN student, distilled, tuned on val (anchor)",
                                   Path(tuned["checkpoint"]), None)
            record["notes"].append(
                "the sweeps' best value per knob and every variant that beat the default, by VALIDATION accuracy: "
                + ", ".join(f"{k}={v}" for k, v in changes.items()))
            record["training"] = {k: tuned[k] for k in ("best_val_accuracy", "epochs", "train_seconds")}
            models["cnn2gnn_tuned"] = record

    stages.start("evaluate")
    dataset = load_dataset(s.data, seed=s.seed)
    test = tensors_from_split(dataset.split("test"), pre)
    for name, m in models.items():
        if name == "knn":
            m["test_accuracy"] = {str(b): module_test_accuracy(knn, test.x, test.y, b) for b in (1, 64)}
            other = "majority" if s.knn_vote == "distance" else "distance"
            alt = knn_from_student(anchor_student, other)
            m["test_accuracy_other_vote"] = {"vote": other, "64": module_test_accuracy(alt, test.x, test.y, 64)}
            m["notes"].append(f"{other} vote instead: {100 * m['test_accuracy_other_vote']['64']:.2f}% test accuracy")
            _cost(m, knn, knn, pre.input_shape)
            continue
        payload = load_checkpoint(m["checkpoint"])
        m["test_accuracy"] = {str(b): checkpoint_test_accuracy(Path(m["checkpoint"]), b) for b in (1, 64)}
        deployed = deployed_module(payload)
        if deployed is None:  # batch mode: the cost per image of a batch of 64
            batch_model = model_from_checkpoint(payload)
            in_file_order = m["test_accuracy"]["64"]
            assert in_file_order is not None  # batch 64 >= k + 2 for every k the report uses
            m["test_accuracy"]["64"] = shuffled_test_accuracy(batch_model, test.x, test.y, 64, s.seed,
                                                              payload.graph.min_nodes)
            m["test_accuracy_file_order"] = {"64": in_file_order}
            m["notes"].append(
                f"test images in a seeded random order, so each batch of 64 mixes the classes; in the split's file "
                f"order: {100 * in_file_order:.2f}% (a split stored class by class gives near single-class batches, "
                "whose graph leaks the label)")
            _cost(m, None, batch_model, pre.input_shape, batch=64)
            m["notes"].append("batch graph mode: a lone image has no neighbours (accuracy at batch 1 n/a) and the "
                              "prediction depends on the rest of the batch, so it has no ONNX export; FLOPs per image "
                              "counted within a batch of 64")
        else:
            _cost(m, deployed, model_from_checkpoint(payload), pre.input_shape)

    stages.start("export + INT8")
    onnx_dir = work / "onnx"
    x_test, y_test = test.x.numpy(), test.y.numpy()
    for name, m in models.items():
        stages.bar.set_postfix_str(name)
        fp32_path = onnx_dir / f"{name}.onnx"
        if name == "knn":
            graph = {"mode": "knn", "k": knn.k, "num_anchors": int(knn.anchors.shape[0])}
            m["onnx"] = onnx_from_module(knn, fp32_path, Path(models["cnn2gnn_anchor"]["checkpoint"]), graph,
                                         s.parity_samples, progress)
        elif name == "cnn2gnn_batch":
            m["onnx"] = m["int8"] = None
            continue
        else:
            m["onnx"] = export_checkpoint(Path(m["checkpoint"]), fp32_path, s.parity_samples, progress)
        m["int8"] = int8_test_comparison(fp32_path, onnx_dir / f"{name}.int8.onnx", x_test, y_test,
                                         s.calibration_images, s.seed, progress)

    stages.start("latency")
    timed = {f"{name}/{precision}": Path(m[key]["output"]) for name, m in models.items()
             for precision, key in (("fp32", "onnx"), ("int8", "int8")) if m.get(key)}
    latency = measure_latency(timed, x_test[:64], s.threads, s.warmup, {1: s.iterations_b1, 64: s.iterations_b64},
                              s.rounds, progress)
    for name, m in models.items():
        if m.get("onnx"):
            m["latency"] = {p: {**summary(latency[f"{name}/{p}"]), "raw": latency[f"{name}/{p}"]}
                            for p in ("fp32", "int8") if f"{name}/{p}" in latency}
    if sweep_report is not None:
        sweep_report = _finish_sweeps(s, sweep_report, test, onnx_dir / "sweeps", progress, KNOB_LABELS,
                                      default_value, x_test)

    timings = stages.finish()
    return {
        "dataset": dataset_name(s.data),
        "settings": s.to_dict(),
        "num_test_images": int(len(test)),
        "num_train_images": int(len(dataset.train)),
        "num_val_images": int(len(dataset.val)),
        "models": models,
        "gaps": _gaps(models),
        "sweeps": sweep_report,
        "stage_seconds": timings,
        "seconds": round(time.perf_counter() - started, 1),
        "torch_threads": torch.get_num_threads(),
    }


def _finish_sweeps(s: Settings, sweep_report: dict[str, Any], test: Any, onnx_dir: Path, progress: bool,
                   labels: dict[str, str], default_value: Any, x_test: Any) -> dict[str, Any]:
    """Test accuracy, cost and batch-1 latency of every sweep point (one interleaved latency run)."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
    from comparison.flops import constant_count, flops_per_image
    from comparison.latency import measure_latency
    from comparison.measure import checkpoint_test_accuracy, export_checkpoint
    from comparison.training import deployed_module

    raw = sweep_report["raw"]
    paths = {}
    for tag, point in tqdm(raw["points"].items(), desc="sweep points: test + export", file=sys.stderr,
                           disable=not progress, leave=False):
        ckpt = Path(point["checkpoint"])
        payload = load_checkpoint(ckpt)
        module = deployed_module(payload)
        assert module is not None  # sweep points are anchor-mode students
        point["test_accuracy"] = checkpoint_test_accuracy(ckpt, 64)
        point["flops_per_image"] = flops_per_image(module, tuple(test.x.shape[1:]))
        point["constants"] = constant_count(module)
        paths[tag] = Path(export_checkpoint(ckpt, onnx_dir / f"{tag}.onnx", min(64, s.parity_samples), False)["output"])
    latency = measure_latency(paths, x_test[:64], s.threads, s.warmup, {1: s.iterations_b1}, s.rounds, progress)
    for tag, point in raw["points"].items():
        point["p50_ms_b1"] = latency[tag]["1"]["latency_ms"]["p50"]
        point["p95_ms_b1"] = latency[tag]["1"]["latency_ms"]["p95"]

    def row(tag: str, **extra: Any) -> dict[str, Any]:
        p = raw["points"][tag]
        return {**extra, "tag": tag, **{k: p[k] for k in ("best_val_accuracy", "test_accuracy", "flops_per_image",
                                                         "constants", "p50_ms_b1", "p95_ms_b1", "train_seconds")}}

    knobs = {knob: {"label": labels[knob], "default": default_value(s, knob),
                    "rows": [row(r["tag"], value=r["value"], is_default=r["tag"] == raw["default"]) for r in rows]}
             for knob, rows in raw["sweeps"].items()}
    variants = [row(tag, name=name) for name, tag in raw["variants"].items()]
    return {"epochs": sweep_report["epochs"], "knobs": knobs, "variants": variants,
            "default": row(raw["default"]), "tuned": sweep_report["tuned"]}


def _gaps(models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each CNN2GNN anchor student against each other model: accuracy difference (batch 64), latency ratio."""
    gaps = []
    for student in ("cnn2gnn_anchor", "cnn2gnn_tuned"):
        if student not in models:
            continue
        s = models[student]
        for other in ("teacher", "cnn_student", "knn", "cnn2gnn_ce", "cnn2gnn_batch"):
            o = models[other]
            if o["test_accuracy"]["64"] is None or s["test_accuracy"]["64"] is None:
                continue
            s_lat = ((s.get("latency") or {}).get("fp32") or {}).get("p50_ms_b1")
            o_lat = ((o.get("latency") or {}).get("fp32") or {}).get("p50_ms_b1")
            gaps.append({
                "student": s["label"], "baseline": o["label"], "student_name": student, "baseline_name": other,
                "student_accuracy": s["test_accuracy"]["64"], "baseline_accuracy": o["test_accuracy"]["64"],
                # rounded far below one test image: equal accuracies read as a tie, not a float32 round-off win
                "accuracy_points": round(100 * (s["test_accuracy"]["64"] - o["test_accuracy"]["64"]), 4),
                "latency_ratio_b1": (s_lat / o_lat) if s_lat and o_lat else None,
            })
    return gaps


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


def main(argv: list[str] | None = None) -> int:
    from cnn2gnn.contracts.errors import Cnn2GnnError

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="digits", help="Dataset spec (digits, idx:PATH, imagefolder:PATH, ...).")
    ap.add_argument("--quick", action="store_true", help="CI-sized smoke run: tiny models, epochs and sweeps.")
    ap.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="Where the JSON, Markdown and PNGs go.")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="Keep checkpoints and ONNX models here (default: temp).")
    ap.add_argument("--image-size", type=int, default=None, help="Input size (square) for every model.")
    ap.add_argument("--teacher-epochs", type=int, default=None)
    ap.add_argument("--student-epochs", type=int, default=None, help="Epochs of every student in the main table.")
    ap.add_argument("--sweep-epochs", type=int, default=None, help="Epochs of each sweep point.")
    ap.add_argument("--no-sweeps", action="store_true", help="Skip the knob sweeps and the tuned student.")
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default 1).")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    overrides: dict[str, Any] = {"data": args.data, "image_size": args.image_size,
                                 "teacher_epochs": args.teacher_epochs, "student_epochs": args.student_epochs,
                                 "sweep_epochs": args.sweep_epochs, "threads": args.threads, "seed": args.seed}
    if args.no_sweeps:
        overrides.update(sweeps={}, variants={}, tuned=False)
    settings = preset(args.quick, **overrides)
    progress = not args.no_progress

    import torch

    # One thread: on a shared 2-core machine, two torch threads contend and every step gets slower.
    torch.set_num_threads(settings.torch_threads)
    env = environment(settings.threads)
    with tempfile.TemporaryDirectory(prefix="cnn2gnn-report-") as tmp:
        work = args.work_dir or Path(tmp)
        try:
            report = build_report(settings, work, progress)
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
