"""Means over seeds: each model's test accuracy (mean, min, max, per seed) and the gaps between models.

A model's ``seeds`` maps each seed (a string: JSON keys) to that seed's run: its checkpoint, training
summary and ``test_accuracy`` at batch 1 and 64. Everything compared afterwards (gaps, targets) is
computed from the means, never from one seed.
"""

from __future__ import annotations

from typing import Any

# Gaps and targets compare accuracies in points rounded this far below one test image, so two equal
# accuracies read as a tie, not as a float round-off win.
POINT_DIGITS = 4


def spread(values: dict[str, float | None]) -> dict[str, Any] | None:
    """mean, min, max and the per-seed values of ``{seed: value}``; None when any seed has no value
    (a model that cannot run at that batch size has no mean)."""
    if not values or any(v is None for v in values.values()):
        return None
    numbers = [float(v) for v in values.values() if v is not None]
    return {"mean": sum(numbers) / len(numbers), "min": min(numbers), "max": max(numbers),
            "per_seed": dict(values), "seeds": len(numbers)}


def aggregate_model(model: dict[str, Any]) -> dict[str, Any]:
    """Fill ``test_accuracy`` (the means at batch 1 and 64), ``accuracy`` (the spread at batch 64, the
    number every comparison uses) and ``val_accuracy`` (the spread of the best epochs' validation accuracy)."""
    runs = model["seeds"]
    by_batch = {b: spread({seed: r["test_accuracy"][b] for seed, r in runs.items()}) for b in ("1", "64")}
    model["test_accuracy"] = {b: (sp["mean"] if sp else None) for b, sp in by_batch.items()}
    model["accuracy"] = by_batch["64"]
    val = {seed: (r.get("training") or {}).get("best_val_accuracy") for seed, r in runs.items()}
    model["val_accuracy"] = spread(val)
    return model


def mean_accuracy(model: dict[str, Any]) -> float | None:
    return model["accuracy"]["mean"] if model.get("accuracy") else None


def points_difference(a: float, b: float) -> float:
    """``a - b`` in percentage points, rounded (see POINT_DIGITS)."""
    return round(100 * (a - b), POINT_DIGITS)


def p50_b1(model: dict[str, Any]) -> float | None:
    return ((model.get("latency") or {}).get("fp32") or {}).get("p50_ms_b1")


def best_deployable(models: dict[str, dict[str, Any]], candidates: tuple[str, ...]) -> str | None:
    """The anchor-mode student of highest MEAN VALIDATION accuracy among ``candidates`` (test plays no
    part); the first candidate wins a tie."""
    scored = [(m["val_accuracy"]["mean"], -i, name) for i, name in enumerate(candidates)
              if (m := models.get(name)) and m.get("val_accuracy")]
    return max(scored)[2] if scored else None


def gaps(models: dict[str, dict[str, Any]], student: str, others: tuple[str, ...]) -> list[dict[str, Any]]:
    """``student`` against each of ``others`` present: mean test accuracy difference (batch 64) and the
    batch-1 p50 latency ratio from the one timing run."""
    s = models[student]
    s_acc, out = mean_accuracy(s), []
    for other in others:
        o = models.get(other)
        o_acc = mean_accuracy(o) if o is not None else None
        if o is None or other == student or o_acc is None or s_acc is None:
            continue
        s_lat, o_lat = p50_b1(s), p50_b1(o)
        out.append({
            "student": s["label"], "baseline": o["label"], "student_name": student, "baseline_name": other,
            "student_accuracy": s_acc, "baseline_accuracy": o_acc,
            "accuracy_points": points_difference(s_acc, o_acc),
            "latency_ratio_b1": (s_lat / o_lat) if s_lat and o_lat else None,
        })
    return out
