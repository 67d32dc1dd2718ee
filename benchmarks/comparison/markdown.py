"""The report's Markdown: the targets, the comparison table (means over seeds), the gaps and the sweeps."""

from __future__ import annotations

from typing import Any

# Table order; the JSON stores models under sorted keys, so the order is not taken from it.
MODEL_ORDER = ("teacher", "cnn2gnn_anchor", "cnn2gnn_ce", "cnn2gnn_batch", "cnn_student", "cnn_stem_linear", "knn")
# The student settings the header names (those in the JSON's student_config: a report made before a setting
# existed lacks it).
STUDENT_FIELDS = ("stem", "stem_widths", "patch_size", "k", "num_anchors", "anchor_selection", "label_mode",
                  "label_targets", "anchor_features", "proj_dim", "hidden", "layers", "dropout", "own_loss",
                  "contrastive", "anchor_dropout", "fit_mixing")


def ordered_models(models: dict[str, Any]) -> list[dict[str, Any]]:
    rank = {name: i for i, name in enumerate(MODEL_ORDER)}
    return [models[name] for name in sorted(models, key=lambda n: (rank.get(n, len(rank)), n))]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}"


def _num(v: float | None, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def _count(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def _spread(sp: dict[str, Any] | None) -> tuple[str, str]:
    """("mean (min–max)", "seed values, in seed order") of an accuracy spread."""
    if sp is None:
        return "n/a", "n/a"
    per_seed = " / ".join(_pct(v) for v in sp["per_seed"].values())
    return f"{_pct(sp['mean'])} ({_pct(sp['min'])}–{_pct(sp['max'])})", per_seed


def target_lines(report: dict[str, Any]) -> list[str]:
    lines = ["Issue 14's must-show items, on the means over the seeds (PASS/MISS by the margin to the target; "
             "REPORTED: no target on this dataset; N/A: not trained in this run).", ""]
    # Bullets, not a numbered list: item 1 has two lines, and Markdown would renumber them.
    lines += [f"- **{t['item']}. {t['name']}** (target: {t['target']}): {t['text']}" for t in report["targets"]]
    return lines


def comparison_table(report: dict[str, Any]) -> list[str]:
    seeds = report["settings"]["seeds"]
    lines = [
        f"Test accuracy at batch 64: mean over seeds {', '.join(map(str, seeds))} (min–max), then each seed; the "
        "batch-1 mean beside it (batch-independent models give the same). Cost, ONNX, latency and INT8: seed "
        f"{seeds[0]}'s models, timed in one interleaved run.",
        "",
        "| model | test acc % mean (min–max) | per seed | val acc % mean | test acc % b1 mean | params | constants "
        "| MFLOPs/img | ONNX KB | p50 b1 ms | p95 b1 ms | img/s b64 | INT8 test acc % (drop pt) | INT8 p50 b1 ms "
        "| INT8 img/s b64 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in ordered_models(report["models"]):
        lat = m.get("latency") or {}
        fp32, int8 = lat.get("fp32") or {}, lat.get("int8") or {}
        q = (m.get("int8") or {}).get("test")
        int8_acc = f"{_pct(q['int8_accuracy'])} ({q['accuracy_drop_points']:+.2f})" if q else "n/a"
        onnx = m.get("onnx")
        mean, per_seed = _spread(m.get("accuracy"))
        val = m.get("val_accuracy")
        lines.append(
            f"| {m['label']} | {mean} | {per_seed} | {_pct(val and val['mean'])} | {_pct(m['test_accuracy']['1'])} "
            f"| {_count(m['params'])} | {_count(m['constants'])} "
            f"| {_num(m['flops_per_image'] and m['flops_per_image'] / 1e6, '.3f')} "
            f"| {_num(onnx and onnx['onnx_bytes'] / 1024, '.0f')} "
            f"| {_num(fp32.get('p50_ms_b1'), '.3f')} | {_num(fp32.get('p95_ms_b1'), '.3f')} "
            f"| {_num(fp32.get('throughput_ips_b64'), '.0f')} | {int8_acc} "
            f"| {_num(int8.get('p50_ms_b1'), '.3f')} | {_num(int8.get('throughput_ips_b64'), '.0f')} |"
        )
    notes = [f"- {m['label']}: {note}" for m in ordered_models(report["models"]) for note in m.get("notes", [])]
    return lines + ([""] + notes if notes else [])


def gap_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for g in report["gaps"]:
        speed = (f"; its batch-1 p50 is {g['latency_ratio_b1']:.2f}x the other's" if g.get("latency_ratio_b1") else "")
        accuracies = f"(means: {_pct(g['student_accuracy'])} vs {_pct(g['baseline_accuracy'])}){speed}."
        if g["accuracy_points"] == 0:
            lines.append(f"- {g['student']} ties with {g['baseline']} on mean test accuracy {accuracies}")
        else:
            verdict = "loses to" if g["accuracy_points"] < 0 else "beats"
            lines.append(f"- {g['student']} {verdict} {g['baseline']} by {abs(g['accuracy_points']):.2f} pt of mean "
                         f"test accuracy {accuracies}")
    return lines


def sweep_tables(report: dict[str, Any]) -> list[str]:
    sw, s = report["sweeps"], report["settings"]
    lines = [f"Seed {sw['seed']} only, {sw['epochs']} epochs per point (the main table: {s['student_epochs']} epochs, "
             f"mean of {len(s['seeds'])} seed(s)): the anchor-mode distilled student with one knob changed from its "
             "defaults. Test accuracy at batch 64; latency: ONNX Runtime CPU, batch 1, all points in one interleaved "
             "run. ★ = best validation accuracy (the default wins ties); nothing is retrained from it.", ""]
    for sweep in sw["knobs"].values():
        lines += [f"**{sweep['label']}**", "",
                  "| value | val acc % | test acc % | MFLOPs/img | constants | p50 b1 ms | train s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in sweep["rows"]:
            mark = (" (default)" if r["is_default"] else "") + (" ★" if r["value"] == sweep["best_on_validation"] else "")
            lines.append(f"| {r['value']}{mark} | {_pct(r['best_val_accuracy'])} | {_pct(r['test_accuracy'])} "
                         f"| {r['flops_per_image'] / 1e6:.3f} | {_count(r['constants'])} "
                         f"| {_num(r.get('p50_ms_b1'), '.3f')} | {r['train_seconds']:.0f} |")
        lines.append("")
    return lines


def _header(report: dict[str, Any]) -> list[str]:
    s, env, cfg = report["settings"], report["environment"], report["student_config"]
    student = ", ".join(f"{k}={cfg[k]}" for k in STUDENT_FIELDS if k in cfg and (k != "stem_widths" or cfg["stem"] == "conv")
                        and (k != "patch_size" or cfg["stem"] == "patch"))
    estimate = report.get("estimate")
    planned = f" (estimated at the start: {estimate['seconds']:.0f} s)" if estimate else ""
    # the run's student options sorted: a report written again from its JSON (keys sorted there) reads the same
    options = f" with {dict(sorted(s['student'].items()))}" if s["student"] else ""
    return [
        f"## {report['dataset']} (`--data {s['data']}`)",
        "",
        f"Images: {report['num_train_images']} train, {report['num_val_images']} val, "
        f"{report['num_test_images']} test (seed {s['seeds'][0]}'s split). Seeds {', '.join(map(str, s['seeds']))}: "
        "every main-table model trained once per seed. "
        f"Teacher {s['teacher_arch']} width {s['teacher_width']}, {s['teacher_epochs']} epochs, augment "
        f"{s['teacher_augment']}. CNN2GNN students: StudentConfig's defaults"
        f"{options} ({student}), "
        f"{s['student_epochs']} epochs; CNN "
        f"baselines {s['baseline_epochs']} epochs; students and baselines: augment {s['student_augment']}, "
        f"λ={s['lam']}, T={s['temperature']}; input {s['image_size']}x{s['image_size']}. "
        f"ONNX Runtime {env['onnxruntime']} CPU, {env['ort_threads']} intra-op thread(s), {env['cpu_count']} cores "
        f"({env['processor']}), load average {env['load_average_start']:.1f} at start; warm-up {s['warmup']}, "
        f"{s['iterations_b1']} timed runs at batch 1 and {s['iterations_b64']} at batch 64 in {s['rounds']} "
        f"interleaved rounds. INT8: Q/DQ via `cnn2gnn.calibration` ({s['calibration_images']} training images, "
        "graph path kept float). FLOPs: matmul/conv FLOPs of one image (FlopCounterMode); for the GNN student "
        "the anchor side is a precomputed constant. Constants: stored non-weight values (anchor bank, BatchNorm "
        f"statistics). Whole run: {report['seconds']:.0f} s{planned}.",
        "",
    ]


def report_markdown(report: dict[str, Any]) -> str:
    body = ["### Targets", ""] + target_lines(report)
    body += ["", "### Models", ""] + comparison_table(report)
    if report["gaps"]:
        best = report["models"][report["best_deployable"]]["label"]
        body += ["", "### Gaps", "", f"The best deployable student on mean validation accuracy ({best}) against "
                 "every other model, on mean test accuracy:", ""] + gap_lines(report)
    if report.get("sweeps"):
        body += ["", "### Sweeps", ""] + sweep_tables(report)
    return "\n".join(_header(report) + body) + "\n"
