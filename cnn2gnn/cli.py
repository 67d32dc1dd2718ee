"""The ``cnn2gnn`` command line: train-teacher -> distill -> export -> calibrate -> build -> run / bench.

Every command imports its heavy dependencies (torch, onnx, TensorRT) inside its body, so
``cnn2gnn --help`` and each ``--help`` start instantly and work where those are not installed.
User errors (:class:`Cnn2GnnError`) print one message, no traceback, and exit 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn import __version__
from cnn2gnn.errors import Cnn2GnnError

app = typer.Typer(
    name="cnn2gnn",
    help="Distil a CNN teacher into a two-layer GNN student and deploy it with TensorRT / ONNX Runtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnn2gnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """cnn2gnn: dataset -> CNN teacher -> distilled GNN student -> ONNX -> INT8 -> TensorRT engine -> camera."""


def emit(result: dict[str, Any], as_json: bool, human: str) -> None:
    """Print a result for a script (``--json``: one JSON document on stdout) or for a person."""
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        typer.echo(human)


DATA_HELP = "Dataset: digits (embedded default) | imagefolder:PATH | cifar10:PATH | cifar100:PATH | idx:PATH | mini-imagenet:PATH."
DEVICE_HELP = "auto (CUDA when available), cpu or cuda."

# --- training commands ---


def _train_config(epochs: int, batch_size: int, lr: float, weight_decay: float, augment: str, seed: int,
                  device: str) -> Any:
    from cnn2gnn.toolchain.training.loop import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, augment=augment,
                       seed=seed, device=device)


def _parse_floats(text: Optional[str], name: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{name} takes comma-separated numbers, e.g. 0.485,0.456,0.406; got {text!r}") from None


def _training_summary(result: dict[str, Any]) -> str:
    return (f"best val accuracy {result['best_val_accuracy']:.4f} at epoch {result['best_epoch']}/{result['epochs']}\n"
            f"checkpoint: {result['best_checkpoint']}")


@app.command("train-teacher")
def train_teacher_cmd(
    data: str = typer.Option("digits", "--data", help=DATA_HELP),
    out: Path = typer.Option(Path("runs/teacher"), "--out", "-o", help="Run directory: best.pt, last.pt, config.json, history.json."),
    arch: str = typer.Option("resnet14", help="Teacher CNN: resnet8 | resnet14 | resnet20 | resnet32 | resnet56."),
    width: int = typer.Option(32, help="Channels of the first stage (doubles per stage)."),
    image_size: int = typer.Option(32, "--image-size", help="Input size in pixels (square); images are resized to it."),
    channels: Optional[int] = typer.Option(None, help="Input channels (1 or 3); default: the dataset's."),
    mean: Optional[str] = typer.Option(None, help="Per-channel mean after scaling to [0,1], comma-separated (default 0.5)."),
    std: Optional[str] = typer.Option(None, help="Per-channel std, comma-separated (default 0.5)."),
    interpolation: str = typer.Option("linear", help="Resize interpolation: linear | area | nearest | cubic."),
    epochs: int = typer.Option(30, help="Training epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Mini-batch size."),
    lr: float = typer.Option(2e-3, help="Peak learning rate (AdamW, warm-up then cosine)."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="AdamW weight decay."),
    augment: str = typer.Option("shift", help="Training augmentation: none | shift | shift-flip."),
    seed: int = typer.Option(0, help="Seed for splits, initialisation and batch order."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt after an interruption."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train the CNN teacher."""
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    result = train_teacher(
        data, out, _train_config(epochs, batch_size, lr, weight_decay, augment, seed, device), arch=arch, width=width,
        image_size=image_size, channels=channels, mean=_parse_floats(mean, "--mean"), std=_parse_floats(std, "--std"),
        interpolation=interpolation, resume=resume,
    )
    emit(result, json_out, _training_summary(result))


@app.command("distill")
def distill_cmd(
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Teacher checkpoint (train-teacher's best.pt)."),
    no_teacher: bool = typer.Option(False, "--no-teacher", help="Train the student on labels only (the CE-only ablation)."),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP + " Default: the teacher's."),
    out: Path = typer.Option(Path("runs/student"), "--out", "-o", help="Run directory."),
    k: int = typer.Option(10, "-k", "--k", help="Neighbours per sample in the learned sparse graph."),
    anchors: int = typer.Option(512, "--anchors", help="Anchor bank size M (anchor mode)."),
    anchor_selection: str = typer.Option("class-balanced", "--anchor-selection", help="class-balanced | random."),
    graph_mode: str = typer.Option("anchor", "--graph-mode", help="anchor (deployable, batch-independent) | batch (the paper's)."),
    proj_dim: int = typer.Option(64, "--proj-dim", help="Width of the learnable projection f used for distances."),
    hidden: int = typer.Option(256, help="GCN hidden width."),
    layers: int = typer.Option(2, help="GCN layers."),
    dropout: float = typer.Option(0.2, help="Dropout between GCN layers."),
    alpha: float = typer.Option(0.5, help="Initial weight of a sample's own features vs its neighbours'."),
    fixed_alpha: bool = typer.Option(False, "--fixed-alpha", help="Keep alpha fixed instead of learning it."),
    stem: str = typer.Option("none", help="Node features: none (flattened image) | patch (light patch embedding)."),
    patch_size: int = typer.Option(4, "--patch-size", help="Patch size of the patch stem."),
    lam: float = typer.Option(0.7, "--lambda", help="Weight of the distillation term (1-lambda goes to cross-entropy)."),
    temperature: float = typer.Option(4.0, "--temperature", "-T", help="Distillation temperature."),
    image_size: int = typer.Option(32, "--image-size", help="Input size with --no-teacher (else the teacher's)."),
    epochs: int = typer.Option(40, help="Training epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Mini-batch size."),
    lr: float = typer.Option(2e-3, help="Peak learning rate."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="AdamW weight decay."),
    seed: int = typer.Option(0, help="Seed for splits, anchors, initialisation and batch order."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    cache_dir: Path = typer.Option(Path.home() / ".cache" / "cnn2gnn", "--cache-dir", help="Teacher-logit cache directory."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute teacher logits instead of caching them."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt after an interruption."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Distil the teacher into the CNN2GNN student (DSGL graph + two-layer GCN)."""
    from cnn2gnn.toolchain.distill.distill_student import distill_student

    if teacher is None and not no_teacher:
        raise Cnn2GnnError("give --teacher CKPT (from train-teacher), or --no-teacher for the label-only student")
    if teacher is not None and no_teacher:
        raise Cnn2GnnError("--teacher and --no-teacher exclude each other")
    student = {"k": k, "num_anchors": anchors, "anchor_selection": anchor_selection, "graph_mode": graph_mode,
               "proj_dim": proj_dim, "hidden": hidden, "layers": layers, "dropout": dropout, "alpha": alpha,
               "learn_alpha": not fixed_alpha, "stem": stem, "patch_size": patch_size}
    result = distill_student(
        data, out, _train_config(epochs, batch_size, lr, weight_decay, "none", seed, device), student, teacher,
        lam=lam, temperature=temperature, cache_dir=None if no_cache else cache_dir, image_size=image_size,
        resume=resume,
    )
    emit(result, json_out, _training_summary(result) + f"\nteacher-logit cache: {result['teacher_cache']}")


@app.command("evaluate")
def evaluate_cmd(
    checkpoint: Path = typer.Argument(..., help="A teacher or student checkpoint."),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP + " Default: the checkpoint's."),
    split: str = typer.Option("test", help="train | val | test."),
    batch_size: int = typer.Option(64, "--batch-size", help="Evaluation batch size (anchor-mode results do not depend on it)."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write the confusion matrix as a PNG here."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report (per-class accuracy, confusion matrix) as JSON."),
) -> None:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint."""
    from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint, plot_confusion

    report = evaluate_checkpoint(checkpoint, data, split, batch_size, device)
    if plot is not None:
        report["plot"] = str(plot_confusion(report, plot))
    worst = sorted((v, k) for k, v in report["per_class_accuracy"].items() if v is not None)[:3]
    human = (f"{report['kind']} {checkpoint} on {report['data']} [{split}], batch {batch_size}: "
             f"accuracy {report['accuracy']:.4f} ({report['num_samples']} images)\n"
             f"weakest classes: " + ", ".join(f"{k} {v:.3f}" for v, k in worst))
    emit(report, json_out, human)

# --- export commands ---

# --- calibration commands ---

# --- build / runtime commands ---

# runtime: bench / compare (torch-free: only the runtime and the numpy/OpenCV data loaders are imported)

RUNTIME_BACKEND_HELP = "onnxruntime | tensorrt (default: from the suffix: .onnx -> onnxruntime, .engine/.plan -> tensorrt)."


def _parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise typer.BadParameter(f"--batch-sizes takes comma-separated positive integers, e.g. 1,8,64; got {text!r}")
    return sizes


def _load_runtime_backend(model: Path, backend: Optional[str], threads: Optional[int]) -> Any:
    from cnn2gnn.runtime.backend import backend_for_path, load_backend

    if threads is not None and backend_for_path(model, backend) != "onnxruntime":
        raise typer.BadParameter("--threads applies to the onnxruntime backend only")
    return load_backend(model, backend, **({"threads": threads} if threads is not None else {}))


@app.command("bench")
def bench_cmd(
    model: Path = typer.Argument(..., help="An exported .onnx model or a TensorRT .engine / .plan."),
    backend: Optional[str] = typer.Option(None, "--backend", help=RUNTIME_BACKEND_HELP),
    batch_sizes: str = typer.Option("1,8,64", "--batch-sizes", help="Comma-separated batch sizes to time."),
    warmup: int = typer.Option(20, "--warmup", help="Warm-up calls per batch size."),
    warmup_seconds: Optional[float] = typer.Option(None, "--warmup-seconds", help="Warm up for this many seconds instead."),
    iterations: int = typer.Option(200, "--iterations", help="Timed calls per batch size."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Time each batch size for S seconds instead of --iterations."),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads (default: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Latency (mean / p50 / p95 / p99) and throughput per batch size, trtexec-style, on random input."""
    from cnn2gnn.runtime.bench import benchmark, format_benchmark

    sizes = _parse_batch_sizes(batch_sizes)
    with _load_runtime_backend(model, backend, threads) as loaded:
        result = benchmark(loaded, sizes, warmup=warmup, warmup_seconds=warmup_seconds, iterations=iterations,
                           duration=duration)
    emit(result, json_out, format_benchmark(result))


@app.command("compare")
def compare_cmd(
    model_a: Path = typer.Argument(..., help="First model (.onnx / .engine / .plan)."),
    model_b: Path = typer.Argument(..., help="Second model; may be the same file on another backend."),
    data: str = typer.Option(..., "--data", help=DATA_HELP),
    split: str = typer.Option("test", "--split", help="train | val | test."),
    backend_a: Optional[str] = typer.Option(None, "--backend-a", help=RUNTIME_BACKEND_HELP),
    backend_b: Optional[str] = typer.Option(None, "--backend-b", help=RUNTIME_BACKEND_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use the first N images of the split only."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per inference call."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run two models (or backends) on the same images: top-1 agreement, |Δlogit|, and each one's accuracy."""
    from cnn2gnn.runtime.backend import load_backend
    from cnn2gnn.runtime.compare import compare_backends, dataset_images, format_comparison

    images, labels, class_names = dataset_images(data, split, limit)
    with load_backend(model_a, backend_a) as a, load_backend(model_b, backend_b) as b:
        result = compare_backends(a, b, images, labels, class_names, input_order="RGB", batch_size=batch_size)
    result.update(data=data, split=split)
    emit(result, json_out, f"{data} [{split}]: " + format_comparison(result))

# --- stream commands ---


def main() -> None:
    try:
        app()
    except Cnn2GnnError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))


if __name__ == "__main__":
    main()
