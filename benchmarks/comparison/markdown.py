"""The report's Markdown: the comparison table, the gaps, the sweeps and the variants."""

from __future__ import annotations

from typing import Any

# Table order; the JSON stores models under sorted keys, so the order is not taken from it.
MODEL_ORDER = ("teacher", "cnn2gnn_anchor", "cnn2gnn_tuned", "cnn2gnn_batch", "cnn2gnn_ce", "cnn_student", "knn")


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


def comparison_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| model | test acc % (b1) | test acc % (b64) | params | constants | MFLOPs/img | ONNX KB "
        "| p50 b1 ms | p95 b1 ms | img/s b64 | INT8 test acc % (drop pt) | INT8 p50 b1 ms | INT8 img/s b64 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in ordered_models(report["models"]):
        lat = m.get("latency") or {}
        fp32, int8 = lat.get("fp32") or {}, lat.get("int8") or {}
        q = (m.get("int8") or {}).get("test")
        int8_acc = f"{_pct(q['int8_accuracy'])} ({q['accuracy_drop_points']:+.2f})" if q else "n/a"
        onnx = m.get("onnx")
        lines.append(
            f"| {m['label']} | {_pct(m['test_accuracy']['1'])} | {_pct(m['test_accuracy']['64'])} "
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
        accuracies = f"(batch 64: {_pct(g['student_accuracy'])} vs {_pct(g['baseline_accuracy'])}){speed}."
        if g["accuracy_points"] == 0:
            lines.append(f"- {g['student']} ties with {g['baseline']} on test accuracy {accuracies}")
        else:
            verdict = "loses to" if g["accuracy_points"] < 0 else "beats"
            lines.append(f"- {g['student']} {verdict} {g['baseline']} by {abs(g['accuracy_points']):.2f} pt of test "
                         f"accuracy {accuracies}")
    return lines


_SWEEP_HEADER = "| {first} | val acc % | test acc % | MFLOPs/img | constants | p50 b1 ms |"
_SWEEP_ALIGN = "|---:|---:|---:|---:|---:|"


def _sweep_row(first: str, r: dict[str, Any]) -> str:
    return (f"| {first} | {_pct(r['best_val_accuracy'])} | {_pct(r['test_accuracy'])} "
            f"| {r['flops_per_image'] / 1e6:.3f} | {_count(r['constants'])} | {_num(r.get('p50_ms_b1'), '.3f')} |")


def sweep_tables(report: dict[str, Any]) -> list[str]:
    sw = report["sweeps"]
    lines = [f"Each point: the anchor-mode distilled student trained for {sw['epochs']} epochs (the main table uses "
             f"{report['settings']['student_epochs']}), one knob changed from the defaults; test accuracy at batch 64; "
             "latency: ONNX Runtime CPU, batch 1, measured in one interleaved run.", ""]
    for sweep in sw["knobs"].values():
        lines += [f"**{sweep['label']}**", "", _SWEEP_HEADER.format(first="value"), "|---:" + _SWEEP_ALIGN]
        lines += [_sweep_row(f"{r['value']}{' (default)' if r['is_default'] else ''}", r) for r in sweep["rows"]]
        lines.append("")
    lines += ["**Single changes beside the sweeps**", "", _SWEEP_HEADER.format(first="variant"), "|---" + _SWEEP_ALIGN]
    lines += [_sweep_row(r["name"], r) for r in sw["variants"]]
    tuned = sw.get("tuned")
    if tuned is not None:
        changes = ", ".join(f"{k}={v}" for k, v in tuned["changes"].items()) or "none (the defaults won on validation)"
        lines += ["", f"Tuned configuration (best validation accuracy per knob, variants that beat the default on "
                      f"validation): {changes}."]
    return lines


def report_markdown(report: dict[str, Any]) -> str:
    s, env = report["settings"], report["environment"]
    head = [
        f"## {report['dataset']} (`--data {s['data']}`)",
        "",
        f"Images: {report['num_train_images']} train, {report['num_val_images']} val, "
        f"{report['num_test_images']} test. "
        f"Teacher {s['teacher_arch']} width {s['teacher_width']}, "
        f"{s['teacher_epochs']} epochs, augment {s['teacher_augment']}; students {s['student_epochs']} epochs, "
        f"λ={s['lam']}, T={s['temperature']}, k={s['student']['k']}, M={s['student']['num_anchors']} "
        f"{s['student']['anchor_selection']}; input {s['image_size']}x{s['image_size']}; seed {s['seed']}. "
        f"ONNX Runtime {env['onnxruntime']} CPU, {env['ort_threads']} intra-op thread(s), {env['cpu_count']} cores "
        f"({env['processor']}), load average {env['load_average_start']:.1f} at start; warm-up {s['warmup']}, "
        f"{s['iterations_b1']} timed runs at batch 1 and {s['iterations_b64']} at batch 64 in {s['rounds']} "
        f"interleaved rounds. INT8: Q/DQ via `cnn2gnn.calibration` ({s['calibration_images']} training images, "
        "graph path kept float). FLOPs: matmul/conv FLOPs of one image (FlopCounterMode); for the GNN student "
        "the anchor side is a precomputed constant. Constants: stored non-weight values (anchor bank, BatchNorm "
        f"statistics). Whole run: {report['seconds']:.0f} s.",
        "",
    ]
    body = comparison_table(report) + ["", "### Gaps", ""] + gap_lines(report)
    if report.get("sweeps"):
        body += ["", "### Knob sweeps", ""] + sweep_tables(report)
    return "\n".join(head + body) + "\n"
