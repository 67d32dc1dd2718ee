"""The five things issue 14 says the report must show, each with its measured value, target and verdict.

Every accuracy is a mean over the run's seeds (batch 64; the deployable models are batch-independent);
latency ratios come from the one interleaved timing run of the first seed's models. A verdict is PASS or
MISS with the margin; REPORTED where the issue sets no target on this dataset (the teacher gap off
digits, the distillation gain on digits); N/A where the row it needs was not trained.
"""

from __future__ import annotations

from typing import Any

from comparison.aggregate import POINT_DIGITS, best_deployable, mean_accuracy, p50_b1, points_difference

# The deployable (anchor-mode) CNN2GNN students the "best" one is chosen from, on mean VALIDATION accuracy.
DEPLOYABLE_STUDENTS = ("cnn2gnn_anchor", "cnn2gnn_ce")
LATENCY_RATIO_TARGET = 1.5  # student p50 / small CNN p50 at batch 1, at most
TEACHER_GAP_TARGET = -0.3  # student - teacher, points, at least (on digits)
DISTILL_GAIN_TARGET = 0.5  # distilled - labels only, points, at least (on the larger set)
GRAPH_GAIN_TARGET = 0.0  # graph head - linear head on the same stem, points, at least
# Sweeps item 5 asks for.
REQUIRED_SWEEPS = ("M", "stem")


def _check(value: float, bound: float, at_least: bool, applies: bool) -> tuple[str, float]:
    margin = round(value - bound if at_least else bound - value, POINT_DIGITS)
    if not applies:
        return "REPORTED", margin
    return ("PASS" if margin >= 0 else "MISS"), margin


def _verdict_text(verdict: str, margin: float, unit: str) -> str:
    if verdict == "REPORTED":
        return "REPORTED (no target on this dataset)"
    return f"{verdict} by {abs(margin):.2f}{unit}"


def _target(item: int, name: str, target: str, measured: float | None, verdict: str, margin: float | None,
            text: str) -> dict[str, Any]:
    return {"item": item, "name": name, "target": target, "measured": measured, "verdict": verdict,
            "margin": margin, "text": text}


def _missing(item: int, name: str, target: str, why: str) -> dict[str, Any]:
    return _target(item, name, target, None, "N/A", None, why)


def _accuracy_target(item: int, name: str, target: str, models: dict[str, Any], a: str, b: str, bound: float,
                     applies: bool, short: dict[str, str]) -> dict[str, Any]:
    """``a``'s mean accuracy minus ``b``'s (points) against ``bound`` (at least)."""
    if a not in models or b not in models or mean_accuracy(models[a]) is None or mean_accuracy(models[b]) is None:
        return _missing(item, name, target, f"not measured: {a if a not in models else b} was not trained")
    acc_a, acc_b = mean_accuracy(models[a]), mean_accuracy(models[b])
    assert acc_a is not None and acc_b is not None
    diff = points_difference(acc_a, acc_b)
    verdict, margin = _check(diff, bound, True, applies)
    per_seed = _per_seed_differences(models[a], models[b])
    seeds = f"; per seed {', '.join(f'{s}: {d:+.2f}' for s, d in per_seed.items())}" if len(per_seed) > 1 else ""
    text = (f"{short[a]} {100 * acc_a:.2f} vs {short[b]} {100 * acc_b:.2f} ({diff:+.2f} pt{seeds}): "
            + _verdict_text(verdict, margin, " pt"))
    return {**_target(item, name, target, diff, verdict, margin, text), "per_seed": per_seed}


def _per_seed_differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """``a`` minus ``b`` (points) on each seed both were trained on: models of one seed share its teacher and
    splits, so the spread of these says how far the mean's difference is from noise."""
    acc_a, acc_b = a["accuracy"]["per_seed"], b["accuracy"]["per_seed"]
    # in seed order, which a report read back from its JSON (keys sorted as text: "10" before "2") has lost
    return {seed: points_difference(acc_a[seed], acc_b[seed]) for seed in sorted(acc_a, key=int)
            if acc_b.get(seed) is not None and acc_a[seed] is not None}


def _sweeps_target(sweeps: dict[str, Any] | None) -> dict[str, Any]:
    name, target = "accuracy and latency vs M and vs stem", "sweeps over M and stem, each point with test accuracy and latency"
    knobs = (sweeps or {}).get("knobs", {})
    absent = [k for k in REQUIRED_SWEEPS if len(knobs.get(k, {}).get("rows", [])) < 2]
    if absent:
        return _target(5, name, target, None, "MISS", None,
                       f"MISS: no {' and no '.join(absent)} sweep with two or more points (run without --no-sweeps, "
                       "with --sweeps M,stem)")
    rows = [r for k in REQUIRED_SWEEPS for r in knobs[k]["rows"]]
    unmeasured = [str(r["value"]) for r in rows if r.get("test_accuracy") is None or r.get("p50_ms_b1") is None]
    if unmeasured:
        return _target(5, name, target, None, "MISS", None, f"MISS: points without accuracy or latency: {unmeasured}")
    assert sweeps is not None
    m, stem = knobs["M"], knobs["stem"]
    text = (f"M: {', '.join(str(r['value']) for r in m['rows'])} (best on validation: {m['best_on_validation']}); "
            f"stem: {', '.join(str(r['value']) for r in stem['rows'])} (best on validation: "
            f"{stem['best_on_validation']}); seed {sweeps['seed']}, {sweeps['epochs']} epochs each: PASS (shown)")
    return _target(5, name, target, float(len(rows)), "PASS", None, text)


def targets(models: dict[str, dict[str, Any]], sweeps: dict[str, Any] | None, on_digits: bool) -> list[dict[str, Any]]:
    """Items 1-5 of issue 14. ``on_digits``: the embedded digits set, where the teacher-gap target applies;
    elsewhere (the larger set) the distillation-gain target does."""
    best = best_deployable(models, DEPLOYABLE_STUDENTS)
    short = {"teacher": "teacher", "cnn_student": "small CNN", "cnn2gnn_anchor": "distilled student",
             "cnn2gnn_ce": "labels-only student", "cnn_stem_linear": "same stem + linear head"}
    out = []
    item1 = "best deployable student vs small CNN of equal FLOPs: test accuracy"
    if best is not None:
        item1 += f" (best on validation: the {short[best]})"
        short_best = {**short, best: "student"}
    if best is None:
        out.append(_missing(1, item1, "student ≥ small CNN", "not measured: no anchor-mode student was trained"))
        out.append(_missing(1, "… and batch-1 p50 latency ratio", f"≤ {LATENCY_RATIO_TARGET}x", "not measured"))
    else:
        out.append(_accuracy_target(1, item1, "student ≥ small CNN", models, best, "cnn_student", 0.0, True,
                                   short_best))
        s_lat, c_lat = p50_b1(models[best]), p50_b1(models.get("cnn_student") or {})
        name = "… and ONNX Runtime batch-1 p50 latency ratio (same run)"
        if s_lat and c_lat:
            ratio = s_lat / c_lat
            verdict, margin = _check(ratio, LATENCY_RATIO_TARGET, False, True)
            out.append(_target(1, name, f"≤ {LATENCY_RATIO_TARGET}x", ratio, verdict, margin,
                               f"student {s_lat:.3f} ms vs small CNN {c_lat:.3f} ms = {ratio:.2f}x: "
                               + _verdict_text(verdict, margin, "x")))
        else:
            out.append(_missing(1, name, f"≤ {LATENCY_RATIO_TARGET}x", "not measured: no latency for one of them"))
        out.append(_accuracy_target(2, "student vs its teacher", f"student ≥ teacher {TEACHER_GAP_TARGET} pt (digits)",
                                    models, best, "teacher", TEACHER_GAP_TARGET, on_digits, short_best))
    out.append(_accuracy_target(3, "distilled vs labels-only (CE-only) student",
                                f"distilled ≥ labels-only + {DISTILL_GAIN_TARGET} pt (larger set)", models,
                                "cnn2gnn_anchor", "cnn2gnn_ce", DISTILL_GAIN_TARGET, not on_digits, short))
    out.append(_accuracy_target(4, "graph head vs the same stem with a linear head (both distilled)",
                                "graph ≥ linear head", models, "cnn2gnn_anchor", "cnn_stem_linear",
                                GRAPH_GAIN_TARGET, True, short))
    out.append(_sweeps_target(sweeps))
    return out
