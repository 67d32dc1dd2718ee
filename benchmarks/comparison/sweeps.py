"""One-knob-at-a-time sweeps of the anchor-mode distilled student, on the first seed and for fewer epochs.

By default M (anchors) and the stem; optionally k, T, λ, the anchor selection and the anchor-label
mode. Each point changes one knob from the student's defaults; the point equal to the defaults is
trained once and shared by every sweep. Nothing is retrained from the sweeps: each table marks the
point with the best VALIDATION accuracy (never test), for whoever sets the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from comparison.measure import SeedTestSplits
from comparison.settings import Settings
from comparison.training import distill_gnn

# knob -> (the StudentConfig field or distillation-loss argument it sets, its label in the tables)
KNOBS = {
    "M": ("num_anchors", "M (anchors)"), "stem": ("stem", "stem (node features)"), "k": ("k", "k (neighbours)"),
    "T": ("temperature", "T (temperature)"), "lam": ("lam", "λ (distillation weight)"),
    "selection": ("anchor_selection", "anchor selection"), "labels": ("label_mode", "anchor labels in the messages"),
}
LOSS_FIELDS = ("lam", "temperature")


def _same(a: Any, b: Any) -> bool:
    """Equal as numbers where both are numbers (a CLI's 4 and a default's 4.0), else as values."""
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def resolve_values(knob: str, values: list[Any], num_train: int) -> list[Any]:
    """The values a sweep trains: M capped at the training-set size ("all": every training image), without
    repeats, so a small set's 2048 and 4096 both become one M = all point."""
    if knob != "M":
        return list(values)
    out: list[int] = []
    for v in values:
        m = num_train if v == "all" else min(int(v), num_train)
        if m not in out:
            out.append(m)
    return out


def default_value(s: Settings, knob: str, num_train: int) -> Any:
    from comparison.defaults import student_config

    name = KNOBS[knob][0]
    if name in LOSS_FIELDS:
        return getattr(s, name)
    value = student_config(s.student)[name]
    return min(int(value), num_train) if knob == "M" else value  # the distiller caps M the same way


def _tag(changes: dict[str, Any]) -> str:
    return "default" if not changes else "_".join(f"{k}={v}" for k, v in sorted(changes.items())).replace(" ", "")


def run_sweeps(s: Settings, work: Path, teacher: Path, num_train: int, progress: bool, bar: Any) -> dict[str, Any]:
    """Train every sweep point at ``s.sweep_epochs`` on the first seed."""
    points: dict[str, dict[str, Any]] = {}

    def point(changes: dict[str, Any]) -> str:
        tag = _tag(changes)
        if tag not in points:
            bar.set_postfix_str(f"sweep {tag}")
            loss = {KNOBS[k][0]: v for k, v in changes.items() if KNOBS[k][0] in LOSS_FIELDS}
            student = {KNOBS[k][0]: v for k, v in changes.items() if KNOBS[k][0] not in LOSS_FIELDS}
            result = distill_gnn(s, work / tag, teacher, s.sweep_epochs, s.latency_seed, progress, **loss, **student)
            points[tag] = {"changes": changes, "checkpoint": result["best_checkpoint"], "epochs": s.sweep_epochs,
                           "best_val_accuracy": result["best_val_accuracy"],
                           "train_seconds": round(sum(h["seconds"] for h in result["history"]), 2)}
            print(f"sweep {tag}: val acc {points[tag]['best_val_accuracy']:.4f}", file=sys.stderr)
        return tag

    default = point({})  # first: every sweep's default row reuses it
    knobs: dict[str, dict[str, Any]] = {}
    for knob, values in s.sweeps.items():
        base = default_value(s, knob, num_train)
        rows = []
        for value in resolve_values(knob, values, num_train):
            is_default = _same(value, base)
            rows.append({"value": value, "is_default": is_default,
                         "tag": default if is_default else point({knob: value})})
        knobs[knob] = {"label": KNOBS[knob][1], "default": base, "rows": rows}
    return {"epochs": s.sweep_epochs, "seed": s.latency_seed, "num_train_images": num_train, "points": points,
            "knobs": knobs, "default": default}


def best_on_validation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of highest validation accuracy; the default wins a tie (a change must earn its place)."""
    return max(rows, key=lambda r: (r["best_val_accuracy"], r["is_default"]))


def measure_sweeps(s: Settings, sweeps: dict[str, Any], tests: SeedTestSplits, onnx_dir: Path, x_test: np.ndarray,
                   progress: bool) -> dict[str, Any]:
    """Test accuracy, cost and batch-1 latency (one interleaved run) of every point, copied into the rows."""
    from tqdm import tqdm

    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
    from comparison.flops import constant_count, flops_per_image
    from comparison.latency import measure_latency
    from comparison.measure import checkpoint_test_accuracy, export_checkpoint
    from comparison.training import deployed_module

    points = sweeps["points"]
    paths = {}
    for tag, p in tqdm(points.items(), desc="sweep points: test + export", file=sys.stderr, disable=not progress,
                       leave=False):
        ckpt = Path(p["checkpoint"])
        module = deployed_module(load_checkpoint(ckpt))
        assert module is not None  # sweep points are anchor-mode students
        p["test_accuracy"] = checkpoint_test_accuracy(ckpt, tests, sweeps["seed"], (64,))["64"]
        p["flops_per_image"] = flops_per_image(module, tuple(x_test.shape[1:]))
        p["constants"] = constant_count(module)
        paths[tag] = Path(export_checkpoint(ckpt, onnx_dir / f"{tag}.onnx", min(64, s.parity_samples), False)["output"])
    latency = measure_latency(paths, x_test[:64], s.threads, s.warmup, {1: s.iterations_b1}, s.rounds, progress)
    for tag, p in points.items():
        p["p50_ms_b1"] = latency[tag]["1"]["latency_ms"]["p50"]
        p["p95_ms_b1"] = latency[tag]["1"]["latency_ms"]["p95"]
    for sweep in sweeps["knobs"].values():
        for row in sweep["rows"]:
            row.update({k: points[row["tag"]][k] for k in ("best_val_accuracy", "test_accuracy", "flops_per_image",
                                                          "constants", "p50_ms_b1", "p95_ms_b1", "train_seconds")})
        sweep["best_on_validation"] = best_on_validation(sweep["rows"])["value"]
    return sweeps
