"""PNG plots (matplotlib Agg), each written atomically: accuracy vs latency, and the knob sweeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    from cnn2gnn.contracts.atomic_io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path


def plot_accuracy_vs_latency(report: dict[str, Any], path: Path) -> Path:
    """One point per model and precision: mean test accuracy (batch 64) against ONNX Runtime CPU p50 at batch 1
    (INT8 points: the timed seed's INT8 accuracy)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    from comparison.markdown import ordered_models

    for i, m in enumerate(ordered_models(report["models"])):
        acc = m["test_accuracy"]["64"]
        colour = f"C{i}"
        for precision, marker, fill in (("fp32", "o", colour), ("int8", "s", "none")):
            lat = (m.get("latency") or {}).get(precision)
            if not lat or acc is None:
                continue
            y = acc if precision == "fp32" else m["int8"]["test"]["int8_accuracy"]
            ax.scatter([lat["p50_ms_b1"]], [100 * y], marker=marker, s=70, color=colour, facecolors=fill,
                       label=f"{m['label']} ({precision})")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    # Plain 1-2-5 ticks: the default log labels (2x10^-2, 3x10^-2, ...) overlap on a narrow range.
    ax.xaxis.set_major_locator(FixedLocator([m * 10.0 ** e for e in range(-3, 3) for m in (1, 2, 5)]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("ONNX Runtime CPU latency, batch 1, p50 (ms, log scale)")
    ax.set_ylabel("test accuracy (%), mean over seeds")
    ax.set_title(f"{report['dataset']}: accuracy vs latency ({report['environment']['ort_threads']} ORT thread(s))")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_sweeps(report: dict[str, Any], path: Path) -> Path:
    """Per sweep: validation and test accuracy (left axis) and batch-1 p50 latency (right axis)."""
    plt = _pyplot()
    knobs = report["sweeps"]["knobs"]
    handles: list[Any] = []
    fig, axes = plt.subplots(1, len(knobs), figsize=(4.2 * len(knobs), 3.8), squeeze=False)
    for ax, (knob, sweep) in zip(axes[0], knobs.items()):
        rows = sweep["rows"]
        numeric = all(isinstance(r["value"], (int, float)) for r in rows)
        # Numbers on their own axis (M on a log scale); names (stems, selections) as equally spaced categories.
        xs = [float(r["value"]) for r in rows] if numeric else list(range(len(rows)))
        ax.plot(xs, [100 * r["best_val_accuracy"] for r in rows], "o-", color="C0", label="val acc")
        ax.plot(xs, [100 * r["test_accuracy"] for r in rows], "s--", color="C1", label="test acc")
        ax.set_xlabel(sweep["label"])
        ax.set_ylabel("accuracy (%)")
        if numeric and (knob == "M" or (min(xs) > 0 and max(xs) / min(xs) >= 8)):
            ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(r["value"]) for r in rows])
        twin = ax.twinx()
        twin.plot(xs, [r["p50_ms_b1"] for r in rows], "^:", color="C2", label="p50 b1 (ms)")
        twin.set_ylabel("latency p50, batch 1 (ms)")
        twin.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.grid(True, alpha=0.3)
    # One legend for all panels, below them: inside a panel it would cover one of the three curves.
    fig.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=3, fontsize=8)
    fig.suptitle(f"{report['dataset']}: CNN2GNN student (anchor, distilled) sweeps, seed "
                 f"{report['sweeps']['seed']}, {report['sweeps']['epochs']} epochs each")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _save(fig, path)
    plt.close(fig)
    return path
