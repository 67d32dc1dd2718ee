"""One-knob-at-a-time sweeps of the anchor-mode distilled student (k, M, T, lambda), single-change
variants (stem, anchor selection), and the tuned configuration they point to (chosen on VALIDATION)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from comparison.settings import Settings
from comparison.training import distill_gnn

# knob -> where it goes: a StudentConfig field or a distillation-loss argument
LOSS_KNOBS = ("lam", "temperature")
KNOB_LABELS = {"k": "k (neighbours)", "num_anchors": "M (anchors)", "temperature": "T (temperature)",
               "lam": "λ (distillation weight)"}


def default_value(s: Settings, knob: str) -> Any:
    return getattr(s, knob) if knob in LOSS_KNOBS else s.student[knob]


def _tag(changes: dict[str, Any]) -> str:
    return "default" if not changes else "_".join(f"{k}={v}" for k, v in sorted(changes.items())).replace(" ", "")


def _split(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    loss = {k: v for k, v in changes.items() if k in LOSS_KNOBS}
    student = {k: (int(v) if k in ("k", "num_anchors") else v) for k, v in changes.items() if k not in LOSS_KNOBS}
    return loss, student


def train_point(s: Settings, work: Path, teacher: Path, changes: dict[str, Any], epochs: int,
                progress: bool) -> dict[str, Any]:
    loss, student = _split(changes)
    out = work / _tag(changes)
    result = distill_gnn(s, out, teacher, epochs, progress, **loss, **student)
    return {"changes": changes, "checkpoint": result["best_checkpoint"], "epochs": epochs,
            "best_val_accuracy": result["best_val_accuracy"],
            "train_seconds": sum(h["seconds"] for h in result["history"])}


def run_sweeps(s: Settings, work: Path, teacher: Path, progress: bool, bar: Any) -> dict[str, Any]:
    """Train every sweep point and variant at ``s.sweep_epochs``; the defaults' run is shared by all sweeps."""
    points: dict[str, dict[str, Any]] = {}

    def point(changes: dict[str, Any]) -> dict[str, Any]:
        tag = _tag(changes)
        if tag not in points:
            bar.set_postfix_str(f"sweep {tag}")
            points[tag] = train_point(s, work, teacher, changes, s.sweep_epochs, progress)
            print(f"sweep {tag}: val acc {points[tag]['best_val_accuracy']:.4f}", file=sys.stderr)
        return points[tag]

    sweeps: dict[str, list[dict[str, Any]]] = {}
    point({})  # the default configuration first: every sweep's default row reuses it
    for knob, values in s.sweeps.items():
        rows = []
        for value in values:
            is_default = float(value) == float(default_value(s, knob))
            rows.append({"value": value, "tag": _tag({} if is_default else {knob: value}),
                         **({} if is_default else {"changes": {knob: value}})})
            point({} if is_default else {knob: value})
        sweeps[knob] = rows
    variants = {name: _tag(changes) for name, changes in s.variants.items()}
    for changes in s.variants.values():
        point(changes)
    return {"points": points, "sweeps": sweeps, "variants": variants, "default": _tag({})}


def tuned_changes(s: Settings, result: dict[str, Any]) -> dict[str, Any]:
    """Per knob the value with the best validation accuracy (the default wins ties), plus every variant that
    beat the default's validation accuracy. Test accuracy plays no part in the choice."""
    points = result["points"]
    base = points[result["default"]]["best_val_accuracy"]
    changes: dict[str, Any] = {}
    for knob, rows in result["sweeps"].items():
        best = max(rows, key=lambda r: (points[r["tag"]]["best_val_accuracy"], r["tag"] == result["default"]))
        if best["tag"] != result["default"]:
            changes[knob] = best["value"]
    for name, tag in result["variants"].items():
        if points[tag]["best_val_accuracy"] > base:
            changes.update(s.variants[name])
    return changes


def train_tuned(s: Settings, work: Path, teacher: Path, changes: dict[str, Any], progress: bool) -> dict[str, Any]:
    return train_point(s, work, teacher, changes, s.student_epochs, progress)
