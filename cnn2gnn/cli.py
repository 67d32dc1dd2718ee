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
    arch: str = typer.Option("resnet8", help="Teacher CNN: resnet8 | resnet14 | resnet20 | resnet32 | resnet56."),
    width: int = typer.Option(32, help="Channels of the first stage (doubles per stage)."),
    image_size: int = typer.Option(32, "--image-size", help="Input size in pixels (square); images are resized to it."),
    channels: Optional[int] = typer.Option(None, help="Input channels (1 or 3); default: the dataset's."),
    mean: Optional[str] = typer.Option(None, help="Per-channel mean after scaling to [0,1], comma-separated (default 0.5)."),
    std: Optional[str] = typer.Option(None, help="Per-channel std, comma-separated (default 0.5)."),
    interpolation: str = typer.Option("linear", help="Resize interpolation: linear | area | nearest | cubic."),
    epochs: int = typer.Option(20, help="Training epochs."),
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
    anchor_selection: str = typer.Option("class-balanced", "--anchor-selection", help="class-balanced | random | kmeans (class-balanced k-means medoids in the learned space, refreshed every 5 epochs)."),
    graph_mode: str = typer.Option("anchor", "--graph-mode", help="anchor (deployable, batch-independent) | batch (the paper's)."),
    proj_dim: int = typer.Option(64, "--proj-dim", help="Width of the learnable projection f used for distances."),
    hidden: int = typer.Option(256, help="GCN hidden width."),
    layers: int = typer.Option(2, help="GCN layers."),
    dropout: float = typer.Option(0.2, help="Dropout between GCN layers."),
    alpha: float = typer.Option(0.5, help="Initial weight of a sample's own features vs its neighbours'."),
    fixed_alpha: bool = typer.Option(False, "--fixed-alpha", help="Keep alpha fixed instead of learning it."),
    stem: str = typer.Option("none", help="Node features: none (flattened image) | patch (light patch embedding) | conv (learned 3x3 stride-2 conv blocks)."),
    patch_size: int = typer.Option(4, "--patch-size", help="Patch size of the patch stem."),
    stem_widths: str = typer.Option("16,32,32", "--stem-widths", help="Comma-separated channel widths of the conv stem."),
    label_mode: str = typer.Option("none", "--label-mode", help="Anchor labels in the messages: none | lp (label propagation in the last layer) | embed | both."),
    label_targets: str = typer.Option("onehot", "--label-targets", help="What anchors carry: onehot labels | teacher (its soft labels)."),
    label_scale: float = typer.Option(4.0, "--label-scale", help="Initial scale beta of the label-propagation term."),
    augment: str = typer.Option("none", help="Training augmentation: none | shift | shift-flip."),
    lam: float = typer.Option(0.7, "--lambda", help="Weight of the distillation term (1-lambda goes to cross-entropy)."),
    temperature: float = typer.Option(4.0, "--temperature", "-T", help="Distillation temperature."),
    image_size: int = typer.Option(32, "--image-size", help="Input size with --no-teacher (else the teacher's)."),
    epochs: int = typer.Option(60, help="Training epochs."),
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
    if teacher is None and not no_teacher:
        raise Cnn2GnnError("give --teacher CKPT (from train-teacher), or --no-teacher for the label-only student")
    if teacher is not None and no_teacher:
        raise Cnn2GnnError("--teacher and --no-teacher exclude each other")
    from cnn2gnn.toolchain.distill.distill_student import distill_student

    student = {"k": k, "num_anchors": anchors, "anchor_selection": anchor_selection, "graph_mode": graph_mode,
               "proj_dim": proj_dim, "hidden": hidden, "layers": layers, "dropout": dropout, "alpha": alpha,
               "learn_alpha": not fixed_alpha, "stem": stem, "patch_size": patch_size,
               "stem_widths": [int(w) for w in stem_widths.split(",") if w.strip()], "label_mode": label_mode,
               "label_targets": label_targets, "label_scale": label_scale}
    result = distill_student(
        data, out, _train_config(epochs, batch_size, lr, weight_decay, augment, seed, device), student, teacher,
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


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A teacher or anchor-mode student checkpoint (best.pt)."),
    output: Path = typer.Option(..., "--output", "-o", help="ONNX file to write; its metadata sidecar goes to OUTPUT.json."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset, 17..20 (17 parses on every TensorRT 10)."),
    parity_samples: int = typer.Option(256, "--parity-samples", help="Test images for the ONNX Runtime vs PyTorch parity check."),
    json_out: bool = typer.Option(False, "--json", help="Print the export report as JSON."),
) -> None:
    """Export to ONNX ("images" N,C,H,W -> "logits", dynamic batch); nothing is written unless the ONNX checker,
    the TensorRT check and parity with PyTorch (batch 1 and 64, max |Δlogit| <= 1e-4, 100% top-1) all pass."""
    from cnn2gnn.export.onnx_from_checkpoint import format_export_report, onnx_from_checkpoint

    report = onnx_from_checkpoint(checkpoint, output, opset=opset, parity_samples=parity_samples)
    emit(report, json_out, format_export_report(report))


@app.command("check")
def check_cmd(
    model: Path = typer.Argument(..., help="An ONNX model."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list informational findings."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Static TensorRT 10 compatibility report (ops, TopK K, dynamic dims, int64, attributes); needs no TensorRT.

    Exit code 0: compatible, or compatible with warnings; 2: incompatible (TensorRT would reject it)."""
    from cnn2gnn.export.tensorrt_compat import check_tensorrt_compatibility, format_compat_report

    report = check_tensorrt_compatibility(model)
    emit(report, json_out, format_compat_report(report, verbose))
    if report["exit_code"]:
        raise typer.Exit(report["exit_code"])

# --- calibration commands ---


@app.command("calibrate")
def calibrate_cmd(
    model: Path = typer.Argument(..., help="The FP32 ONNX model from `cnn2gnn export`."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the INT8 Q/DQ model (e.g. model.int8.onnx)."),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP + " Default: the model's training data."),
    num_images: int = typer.Option(512, "--num-images", help="Calibration images, class-balanced from the TRAINING split."),
    method: str = typer.Option("minmax", "--method", help="Activation ranges: minmax | entropy | percentile (99.999%)."),
    quantize_graph: bool = typer.Option(False, "--quantize-graph", help="Quantise the graph path too (projection, distances, TopK, neighbour weights); by default it stays float."),
    calibration_set: Optional[Path] = typer.Option(None, "--calibration-set", help="Reuse this calibration set (.npz) if its key matches, create it if missing; a set made for another model/data/preprocessing is refused. Default: written to OUTPUT.calibration.npz."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report JSON path (default OUTPUT.report.json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration-image draw (the train/val split uses the model's training seed)."),
    latency_iterations: int = typer.Option(100, "--latency-iterations", help="Timed ONNX Runtime CPU runs per batch size for the FP32 vs INT8 latency (0: skip)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """INT8 explicit quantisation: a Q/DQ ONNX (symmetric INT8, per-channel weights) for TensorRT 10/11 and ONNX Runtime."""
    from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx
    from cnn2gnn.calibration.calibration_report import format_calibration_report

    result = calibrate_onnx(model, output, data, num_images=num_images, method=method, quantize_graph=quantize_graph,
                            calibration_set=calibration_set, report=report, seed=seed,
                            latency_iterations=latency_iterations)
    emit(result, json_out, format_calibration_report(result))

# --- build / runtime commands ---

# build: TensorRT engine from ONNX (TensorRT is imported only when the command runs)


def _build_summary(result: dict[str, Any]) -> str:
    verb = "reused (its sidecar matches this build)" if result["reused"] else f"built in {result['build_seconds']:.1f} s"
    profile = result["batch_profile"]
    return (
        f"{result['engine']}: {verb}\n"
        f"  {result['precision']}, TensorRT {result['tensorrt_version']}, {result['gpu']} "
        f"(compute capability {result['compute_capability']}), batch {profile['min']}/{profile['opt']}/{profile['max']}"
        + (f"\n  Triton model: {result['triton_model']}" if result.get("triton_model") else "")
    )


@app.command("build")
def build_cmd(
    model: Path = typer.Argument(..., help="ONNX model from `cnn2gnn export` (FP32 / FP16) or `cnn2gnn calibrate` (Q/DQ INT8)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | fp16 | int8. int8 takes a Q/DQ ONNX (TensorRT 10 and 11), or an FP32 ONNX with --calibration-set (TensorRT <= 10 only). fp16 on TensorRT 11 converts an FP32 ONNX to FP16 first."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the engine (default: the model's), or an engine file path (.engine / .plan). Default name: <model>-<sha12>-<precision>-trt<version>-sm<cc>.engine."),
    min_batch: Optional[int] = typer.Option(None, "--min-batch", help="Smallest batch the engine accepts (default 1, or the model's fixed batch)."),
    opt_batch: Optional[int] = typer.Option(None, "--opt-batch", help="Batch TensorRT tunes for (default 1: one camera frame)."),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", help="Largest batch the engine accepts (default 64)."),
    workspace_mib: int = typer.Option(1024, "--workspace-mib", help="Builder workspace in MiB; lower it if a Jetson build gets 'Killed'."),
    timing_cache: Optional[Path] = typer.Option(None, "--timing-cache", help="Timing cache file to reuse and update (speeds up rebuilds; refused if made by another TensorRT/GPU)."),
    dla_core: Optional[int] = typer.Option(None, "--dla-core", help="Run on this Jetson DLA core (fp16/int8), falling back to the GPU for unsupported layers."),
    version_compatible: bool = typer.Option(False, "--version-compatible", help="Engine loads on later TensorRT versions too (8.6+; 10.x engines also on 11.x); may be slower."),
    hardware_compatible: bool = typer.Option(False, "--hardware-compatible", help="Engine loads on any Ampere-or-newer desktop GPU (not on Jetson); may be slower."),
    calibration_set: Optional[Path] = typer.Option(None, "--calibration-set", help="Calibration set from `cnn2gnn calibrate`, for implicit INT8 from an FP32 ONNX (TensorRT <= 10)."),
    calibration_cache: Optional[Path] = typer.Option(None, "--calibration-cache", help="Implicit-INT8 calibration cache (default: <engine>.calib); reused only when made for this model, set and TensorRT."),
    calibration_batch: int = typer.Option(8, "--calibration-batch", help="Images per implicit-INT8 calibration batch (a last partial batch is dropped)."),
    triton_repo: Optional[Path] = typer.Option(None, "--triton-repo", help="Also write a Triton model repository entry: DIR/<name>/config.pbtxt and DIR/<name>/1/model.plan."),
    triton_model: Optional[str] = typer.Option(None, "--triton-model", help="Model name in the Triton repository (default: the ONNX file's stem)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if an engine (or calibration cache) exists that was built differently."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show build progress bars on stderr."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build a TensorRT engine (plain plan file + <engine>.json sidecar) for this GPU and TensorRT version.

    An existing engine is reused only if its sidecar shows it was built from the same ONNX, precision, batch profile, TensorRT version and GPU; otherwise the command lists what differs (or rebuilds with --force). Needs TensorRT (JetPack's python3-libnvinfer, or `pip install tensorrt`) and cuda-python or pycuda.
    """
    from cnn2gnn.build.engine_from_onnx import engine_from_onnx

    if workspace_mib < 1:
        raise typer.BadParameter(f"--workspace-mib must be at least 1, got {workspace_mib}")
    if calibration_batch < 1:
        raise typer.BadParameter(f"--calibration-batch must be at least 1, got {calibration_batch}")
    built = engine_from_onnx(
        model, out, precision=precision, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch,
        workspace_bytes=workspace_mib << 20, timing_cache=timing_cache, dla_core=dla_core,
        version_compatible=version_compatible, hardware_compatible=hardware_compatible,
        calibration_set=calibration_set, calibration_cache=calibration_cache, calibration_batch=calibration_batch,
        force=force, progress=progress,
    )
    for warning in built.warnings:
        typer.echo(f"warning: {warning}", err=True)
    result = built.to_dict()
    if triton_repo is not None:
        from cnn2gnn.build.triton_repo import write_triton_repo

        name = triton_model or model.stem
        result["triton_model"] = str(write_triton_repo(triton_repo, name, built.engine_path, built.sidecar))
    emit(result, json_out, _build_summary(result))


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

from cnn2gnn.runtime.stream.exit_codes import exit_codes_help  # noqa: E402 - light: numpy at most, no cv2 / backends
from cnn2gnn.runtime.stream.sources import SOURCE_HELP  # noqa: E402


@app.command("run", epilog="Exit codes:\n" + exit_codes_help())
def run_cmd(
    model: Path = typer.Argument(..., help="An exported .onnx model or a TensorRT .engine / .plan."),
    source: str = typer.Argument(..., help=SOURCE_HELP),
    backend: Optional[str] = typer.Option(None, "--backend", help=RUNTIME_BACKEND_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads (default: all cores)."),
    top_k: int = typer.Option(5, "--top-k", help="Classes reported per frame."),
    width: Optional[int] = typer.Option(None, "--width", help="Camera width to request (cameras, csi://)."),
    height: Optional[int] = typer.Option(None, "--height", help="Camera height to request."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Camera frame rate to request."),
    open_timeout: float = typer.Option(5.0, "--open-timeout", help="Seconds to wait for the first frame (and for each network read)."),
    rtsp_latency: int = typer.Option(200, "--rtsp-latency", help="RTSP jitter buffer in ms: lower is fresher, higher rides out a poor network."),
    rtsp_transport: str = typer.Option("tcp", "--rtsp-transport", help="tcp | udp."),
    reconnect: float = typer.Option(10.0, "--reconnect", help="Seconds to keep reopening a lost live source (back-off 0.5 s doubling to 8 s); 0: give up at once."),
    stall_timeout: float = typer.Option(10.0, "--stall-timeout", help="A read blocked this many seconds counts as a lost source; 0: wait forever."),
    queue: int = typer.Option(4, "--queue", help="Frames buffered between capture and inference."),
    drop_policy: str = typer.Option("auto", "--drop-policy", help="When the queue is full: drop-oldest (fresh results; auto for live sources) | drop-newest | block (every frame; auto for files and image folders)."),
    batch: int = typer.Option(1, "--batch", help="Micro-batch: up to N frames per inference call."),
    batch_wait_ms: float = typer.Option(10.0, "--batch-wait-ms", help="How long a micro-batch waits to fill."),
    roi: Optional[str] = typer.Option(None, "--roi", help="Classify only this region: X,Y,W,H in pixels."),
    center_crop: Optional[float] = typer.Option(None, "--center-crop", help="Classify a centred square, this fraction of the shorter side (1 = largest)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after N classified frames."),
    out: Optional[Path] = typer.Option(None, "--out", help="JSON lines (one per frame) to this file instead of stdout; written when the run ends."),
    save: Optional[Path] = typer.Option(None, "--save", help="Write the annotated video here (.mp4 mp4v, .avi MJPG, .mkv FFV1 lossless)."),
    fourcc: Optional[str] = typer.Option(None, "--fourcc", help="Codec for --save, four characters (overrides the suffix's)."),
    show: bool = typer.Option(False, "--show", help="Show the annotated frames in a window (q / Esc stops)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Write the end-of-run summary as JSON here."),
    status_every: float = typer.Option(2.0, "--status-every", help="Seconds between status lines on stderr; 0: none."),
    json_out: bool = typer.Option(False, "--json", help='End stdout with the summary as one line {"summary": {...}}.'),
) -> None:
    """Classify a camera / RTSP / video / image-folder stream frame by frame (torch-free).

    One JSON line per frame (index, timestamp, source, top-k labels and scores, latency ms) on stdout or --out, a status line on stderr every few seconds, and a summary (fps, p50/p95 latency, drops, time per stage) at the end. Ctrl-C stops cleanly and finalises every file.
    """
    from cnn2gnn.runtime.stream.crop import Crop, parse_roi
    from cnn2gnn.runtime.stream.run import StreamConfig, run_stream
    from cnn2gnn.runtime.stream.sources import CaptureSettings

    config = StreamConfig(
        source=source,
        capture=CaptureSettings(width=width, height=height, fps=fps, open_timeout_s=open_timeout,
                                rtsp_latency_ms=rtsp_latency, rtsp_transport=rtsp_transport),
        top_k=top_k, queue_size=queue, drop_policy=drop_policy, batch_frames=batch, batch_wait_ms=batch_wait_ms,
        crop=Crop(roi=parse_roi(roi) if roi else None, center=center_crop), reconnect_s=reconnect,
        stall_timeout_s=stall_timeout, max_frames=max_frames, out=out, save=save, fourcc=fourcc, show=show,
        summary=summary, status_every_s=status_every,
    )
    with _load_runtime_backend(model, backend, threads) as loaded:
        try:
            result = run_stream(loaded, config)
        except Cnn2GnnError as exc:
            if json_out and hasattr(exc, "summary"):
                typer.echo(json.dumps({"summary": exc.summary}, sort_keys=True, default=str))
            raise
    if json_out:
        typer.echo(json.dumps({"summary": result}, sort_keys=True, default=str))
    if result["exit_code"]:
        raise typer.Exit(result["exit_code"])


def main() -> None:
    try:
        app()
    except Cnn2GnnError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))


if __name__ == "__main__":
    main()
