"""Training commands: ``train-teacher``, ``distill`` and ``evaluate`` (torch is imported when one runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._interrupted_run import resume_hint_on_interrupt
from cnn2gnn.commands._runtime_backend import ENGINE_CACHE_HELP, ENGINE_PRECISION_HELP, RUNTIME_BACKEND_HELP
from cnn2gnn.commands._shared import (
    CLASS_NAMES_HELP,
    DATA_HELP,
    DEVICE_HELP,
    MODEL_CLASS_NAMES_DEFAULT,
    SPLIT_HELP,
    TEACHER_CACHE_DIR,
    emit,
    parse_floats,
    parse_positive_ints,
)
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.output_paths import check_writable_output, refuse_clobbering_inputs, refuse_replacing_artifact
from cnn2gnn.toolchain.models.registry import teacher_arch_help  # torch-free: the registry names files, not classes

ARCH_HELP = teacher_arch_help()
TEACHER_HELP = "Teacher checkpoint (train-teacher's best.pt). Required unless --no-teacher."
NO_TEACHER_HELP = "Train the student on labels only (the CE-only ablation); replaces --teacher, needs --data."
# --teacher cannot be a click-required option (--no-teacher replaces it), so its panel says one is required.
TEACHER_PANEL = "Teacher (required: --teacher or --no-teacher)"
OVERWRITE_RUN_HELP = "Start afresh in an OUT that holds another run, replacing its checkpoints."
RUN_CHECKPOINTS = ("best.pt", "last.pt")
SELECT_HELP = ("Which epoch best.pt keeps: last (the end of the learning-rate schedule) | val_loss (lowest "
               "validation loss) | val_accuracy (highest validation accuracy, the lower loss breaking ties).")
AUGMENT_HELP = "Training augmentation: none | shift | shift-flip."
BATCH_SIZE_HELP = "Global mini-batch size (under torchrun split evenly over the processes; they must divide it)."
AMP_HELP = "Mixed precision on CUDA: off | bf16 | fp16 (autocast; fp16 with loss scaling). Refused on the CPU."
CHANNELS_LAST_HELP = "Train in the channels_last (NHWC) memory format: faster convolutions on tensor-core GPUs."
STREAM_HELP = ("Decode image files (imagefolder:, mini-imagenet:) batch by batch instead of holding every image in "
               "memory: auto (when the float32 train + val tensors would exceed 1 GiB) | on | off.")
WORKERS_HELP = "DataLoader worker processes decoding the next batches of streamed data (0: in the training process)."


def _train_config(epochs: int, batch_size: int, lr: float, weight_decay: float, augment: str, seed: int,
                  device: str, select: str, amp: str = "off", channels_last: bool = False, stream: str = "auto",
                  workers: int = 0) -> Any:
    from cnn2gnn.toolchain.training.loop import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, augment=augment,
                       seed=seed, device=device, select=select, amp=amp,
                       channels_last=channels_last, stream=stream, workers=workers)


def _emit_on_main_rank(result: dict[str, Any], as_json: bool, human: str) -> None:
    """Under torchrun every process runs the command; rank 0 alone prints the result."""
    from cnn2gnn.toolchain.training.world import world_from_env

    if world_from_env().is_main:
        emit(result, as_json, human)


def _check_run_folder(out: Path, resume: bool, overwrite: bool, inputs: dict[str, Optional[Path]]) -> None:
    """Before training: ``out`` can be written, is none of the inputs' folder files, and holds no finished run
    unless ``--resume`` continues it or ``--overwrite`` replaces it (its best.pt would be lost)."""
    check_writable_output(out, "--out", folder=True)
    refuse_clobbering_inputs({f"--out's {name}": out / name for name in RUN_CHECKPOINTS}, inputs)
    if not resume and not overwrite and (out / "best.pt").is_file():
        resumable = ("pass --resume to continue it, " if (out / "last.pt").is_file()
                     else "(without its last.pt it cannot be resumed) ")
        raise Cnn2GnnError(
            f"--out {out} already holds a training run ({out / 'best.pt'}); {resumable}pass --overwrite to replace "
            "it, or choose another --out"
        )


# What only the anchor graph uses: the batch graph links the batch's own samples and has no (labelled) anchors.
ANCHOR_ONLY_OPTIONS = ("--anchors", "--anchor-selection", "--anchor-features", "--bank-refresh", "--anchor-dropout",
                       "--label-targets", "--label-scale")


def _refuse_ignored_options(ctx: typer.Context, no_teacher: bool, graph_mode: str) -> None:
    """An option the run would ignore is refused: the user believes it took effect."""
    # By the source's name: Typer's ParameterSource is click's, or its own copy of click in newer Typers.
    flags = {p.name: max(p.opts, key=len) for p in ctx.command.params}  # the long form: --temperature, not -T
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    given = [flags[name] for name, source in sources.items()
             if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")]
    ignored = ([o for o in given if o in ("--lambda", "--temperature")] if no_teacher
               else [o for o in given if o == "--image-size"])
    if ignored:
        why = ("distillation settings, and --no-teacher trains on labels alone" if no_teacher
               else "the input size without a teacher; with one the student takes the teacher's preprocessing")
        raise Cnn2GnnError(f"{' and '.join(ignored)} would be ignored ({why}): drop "
                           f"{'it' if len(ignored) == 1 else 'them'}")
    anchor_only = [o for o in given if o in ANCHOR_ONLY_OPTIONS]
    if graph_mode == "batch" and anchor_only:
        raise Cnn2GnnError(f"{' and '.join(anchor_only)} would be ignored (--graph-mode batch links the batch's own "
                           "samples and has no anchors): drop them, or use --graph-mode anchor")


def _training_summary(result: dict[str, Any]) -> str:
    lines = [f"best val accuracy {result['best_val_accuracy']:.4f} at epoch {result['best_epoch']}/{result['epochs']}"]
    mixing = result.get("graph_mixing")
    if mixing:
        lines.append(f"alpha fitted on {mixing['images']} validation images: {mixing['alpha_trained']:.3g} -> "
                     f"{mixing['alpha']:.3g}, val loss {mixing['val_loss_trained']:.4f} -> {mixing['val_loss']:.4f}")
    return "\n".join([*lines, f"checkpoint: {result['best_checkpoint']}"])


def train_teacher_cmd(
    data: str = typer.Option("digits", "--data", help=DATA_HELP),
    class_names: Optional[Path] = typer.Option(None, "--class-names", help=CLASS_NAMES_HELP),
    out: Path = typer.Option(
        Path("runs/teacher"), "--out", "-o", help="Run directory: best.pt, last.pt, config.json, history.json."
    ),
    arch: str = typer.Option("resnet8", help=ARCH_HELP),
    width: int = typer.Option(32, help="Channels of the first stage (doubles per stage)."),
    image_size: int = typer.Option(32, "--image-size", help="Input size in pixels (square); images are resized to it."),
    channels: Optional[int] = typer.Option(None, help="Input channels (1 or 3); default: the dataset's."),
    mean: Optional[str] = typer.Option(
        None, help="Per-channel mean after scaling to [0,1], comma-separated (default 0.5)."
    ),
    std: Optional[str] = typer.Option(None, help="Per-channel std, comma-separated (default 0.5)."),
    interpolation: str = typer.Option("linear", help="Resize interpolation: linear | area | nearest | cubic."),
    epochs: int = typer.Option(20, help="Training epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help=BATCH_SIZE_HELP),
    lr: float = typer.Option(2e-3, help="Peak learning rate (AdamW, warm-up then cosine)."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="AdamW weight decay."),
    augment: str = typer.Option("shift", help=AUGMENT_HELP),
    select: str = typer.Option("last", "--select", help=SELECT_HELP),
    seed: int = typer.Option(0, help="Seed for splits, initialisation and batch order."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    amp: str = typer.Option("off", "--amp", help=AMP_HELP),
    channels_last: bool = typer.Option(False, "--channels-last", help=CHANNELS_LAST_HELP),
    stream: str = typer.Option("auto", "--stream", help=STREAM_HELP),
    workers: int = typer.Option(0, "--workers", help=WORKERS_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt after an interruption."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_RUN_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train the CNN teacher (runs as it is under torchrun --nproc-per-node N: one process per device)."""
    mean_values, std_values = parse_floats(mean, "--mean"), parse_floats(std, "--std")
    _check_run_folder(out, resume, overwrite, inputs={})
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    with resume_hint_on_interrupt("train-teacher", out):
        result = train_teacher(
            data, out, _train_config(epochs, batch_size, lr, weight_decay, augment, seed, device, select, amp,
                                     channels_last, stream, workers),
            arch=arch, width=width, image_size=image_size, channels=channels, mean=mean_values, std=std_values,
            interpolation=interpolation, resume=resume, class_names=class_names,
        )
    _emit_on_main_rank(result, json_out, _training_summary(result))


def distill_cmd(
    ctx: typer.Context,
    teacher: Optional[Path] = typer.Option(None, "--teacher", help=TEACHER_HELP, rich_help_panel=TEACHER_PANEL),
    no_teacher: bool = typer.Option(False, "--no-teacher", help=NO_TEACHER_HELP, rich_help_panel=TEACHER_PANEL),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP + " Default: the teacher's."),
    class_names: Optional[Path] = typer.Option(
        None, "--class-names", help=CLASS_NAMES_HELP + " Default: the teacher's names when --data is left out."
    ),
    out: Path = typer.Option(Path("runs/student"), "--out", "-o", help="Run directory."),
    k: int = typer.Option(10, "-k", "--k", help="Neighbours per sample in the learned sparse graph."),
    anchors: int = typer.Option(
        1024, "--anchors", help="Anchor bank size M (anchor mode); a training set of fewer images gives all of them."
    ),
    anchor_selection: str = typer.Option(
        "class-balanced", "--anchor-selection",
        help="class-balanced | random | kmeans (class-balanced k-means medoids in the learned space, refreshed "
             "every 5 epochs).",
    ),
    graph_mode: str = typer.Option(
        "anchor", "--graph-mode", help="anchor (deployable, batch-independent) | batch (the paper's)."
    ),
    proj_dim: int = typer.Option(32, "--proj-dim", help="Width of the learnable projection f used for distances."),
    hidden: int = typer.Option(64, help="GCN hidden width."),
    layers: int = typer.Option(2, help="GCN layers."),
    dropout: float = typer.Option(0.0, help="Dropout between GCN layers."),
    alpha: float = typer.Option(0.5, help="Initial weight of a sample's own features vs its neighbours'."),
    fixed_alpha: bool = typer.Option(False, "--fixed-alpha", help="Keep alpha fixed instead of learning it."),
    stem: str = typer.Option(
        "conv", help="Node features: none (flattened image) | patch (light patch embedding) | conv (learned 3x3 "
                     "stride-2 conv blocks, widths --stem-widths)."
    ),
    patch_size: int = typer.Option(4, "--patch-size", help="Patch size of the patch stem."),
    stem_widths: str = typer.Option(
        "16,32,32", "--stem-widths", help="Channel widths of the conv stem's blocks, comma-separated (1 to 4)."
    ),
    label_mode: Optional[str] = typer.Option(
        None, "--label-mode", help="Anchor labels in the messages (anchor mode): none | lp (label propagation "
                                   "in the last layer; the default in anchor mode) | embed (a label embedding in "
                                   "layer 1) | both. Batch mode has no labelled anchors: none."
    ),
    label_targets: Optional[str] = typer.Option(
        None, "--label-targets", help="What the anchors carry: teacher (its soft labels; the default with --teacher) "
                                      "| onehot (their labels; the default with --no-teacher)."
    ),
    label_scale: float = typer.Option(4.0, "--label-scale", help="Initial scale beta of the label-propagation term."),
    anchor_features: str = typer.Option(
        "memory", "--anchor-features",
        help="How training computes the anchors' node features: live (through the stem, with gradients) | memory "
             "(a bank recomputed each step without gradients: anchors train only as queries, and steps stay cheap "
             "with thousands of anchors).",
    ),
    bank_refresh: int = typer.Option(
        1, "--bank-refresh", help="Training steps between recomputations of the memory bank (--anchor-features "
                                  "memory): larger values make banks of thousands of anchors cheap to train."),
    own_loss: float = typer.Option(
        1.0, "--own-loss", help="Weight of a second loss term on the student's own path alone (its GCN layers without "
                                "neighbours): keeps the stem learning where the neighbours alone could fit the "
                                "training labels."),
    contrastive: float = typer.Option(
        0.0, "--contrastive", help="Weight of a supervised contrastive term on the student's hidden features "
                                   "without neighbours, the space the novelty and enrolled classes use (0: off; "
                                   "measured: worse validation loss, benchmarks/student_exp/README.md)."),
    contrastive_temperature: float = typer.Option(
        0.1, "--contrastive-temperature", help="Temperature of --contrastive's cosine similarities (0.01-1)."),
    fit_mixing: bool = typer.Option(
        True, "--fit-mixing/--no-fit-mixing",
        help="After training, choose alpha (own features vs the neighbours' messages) again on the validation split, "
             "whose neighbours are as far as a new image's (training images find near-copies of themselves)."),
    anchor_dropout: float = typer.Option(
        0.0, "--anchor-dropout", help="Training only: the probability that a query-anchor pair is hidden from the "
                                      "query, so training queries meet neighbours as far away as new images do."),
    lam: float = typer.Option(
        0.7, "--lambda", help="Weight of the distillation term (1-lambda goes to cross-entropy)."
    ),
    temperature: float = typer.Option(4.0, "--temperature", "-T", help="Distillation temperature."),
    image_size: int = typer.Option(32, "--image-size", help="Input size with --no-teacher (else the teacher's)."),
    epochs: int = typer.Option(30, help="Training epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help=BATCH_SIZE_HELP),
    lr: float = typer.Option(2e-3, help="Peak learning rate."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="AdamW weight decay."),
    augment: str = typer.Option("none", help=AUGMENT_HELP + " With a teacher, its logits of each augmented "
                                "batch are computed as the batch is drawn (one teacher forward per step)."),
    select: str = typer.Option("last", "--select", help=SELECT_HELP),
    seed: int = typer.Option(0, help="Seed for splits, anchors, initialisation and batch order."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    amp: str = typer.Option("off", "--amp", help=AMP_HELP),
    stream: str = typer.Option("auto", "--stream", help=STREAM_HELP),
    workers: int = typer.Option(0, "--workers", help=WORKERS_HELP),
    cache_dir: Path = typer.Option(
        TEACHER_CACHE_DIR, "--cache-dir", help="Teacher-logit cache directory (list or clear it with `cnn2gnn cache`)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute teacher logits instead of caching them."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt after an interruption."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_RUN_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Distil the teacher into the CNN2GNN student (DSGL graph + two-layer GCN).

    Give the teacher with --teacher CKPT, or --no-teacher and --data SPEC for the label-only student.
    """
    if teacher is None and not no_teacher:
        raise Cnn2GnnError("give --teacher CKPT (from train-teacher), or --no-teacher for the label-only student")
    if teacher is not None and no_teacher:
        raise Cnn2GnnError("--teacher and --no-teacher exclude each other")
    if no_teacher and data is None:
        raise Cnn2GnnError("--no-teacher needs --data SPEC: there is no teacher dataset to default to")
    _refuse_ignored_options(ctx, no_teacher, graph_mode)
    _check_run_folder(out, resume, overwrite, inputs={"--teacher": teacher})
    from cnn2gnn.toolchain.distill.distill_student import distill_student

    student = {"k": k, "num_anchors": anchors, "anchor_selection": anchor_selection, "graph_mode": graph_mode,
               "proj_dim": proj_dim, "hidden": hidden, "layers": layers, "dropout": dropout, "alpha": alpha,
               "learn_alpha": not fixed_alpha, "stem": stem, "patch_size": patch_size,
               "stem_widths": parse_positive_ints(stem_widths, "--stem-widths"),
               "label_mode": label_mode or ("lp" if graph_mode == "anchor" else "none"),
               "label_targets": label_targets or ("onehot" if no_teacher else "teacher"), "label_scale": label_scale,
               "anchor_features": anchor_features, "bank_refresh": bank_refresh, "anchor_dropout": anchor_dropout,
               "own_loss": own_loss, "contrastive": contrastive, "contrastive_temperature": contrastive_temperature,
               "fit_mixing": fit_mixing}
    with resume_hint_on_interrupt("distill", out):
        result = distill_student(
            data, out, _train_config(epochs, batch_size, lr, weight_decay, augment, seed, device, select, amp,
                                     stream=stream, workers=workers), student,
            teacher,
            lam=lam, temperature=temperature, cache_dir=None if no_cache else cache_dir, image_size=image_size,
            resume=resume, class_names=class_names,
        )
    cache_use = {"hit": f"read from {cache_dir}", "miss": f"written to {cache_dir}"}.get(result["teacher_cache"])
    result["teacher_cache_dir"] = None if no_cache else str(cache_dir)
    _emit_on_main_rank(result, json_out, _training_summary(result) + f"\nteacher-logit cache: {result['teacher_cache']}"
         + (f" ({cache_use}; list or clear it with `cnn2gnn cache`)" if cache_use else ""))


def evaluate_cmd(
    checkpoint: Path = typer.Argument(
        ..., help="A teacher or student checkpoint, or the exported .onnx / engine to measure what you ship."
    ),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP + " Default: the model's (from its metadata)."),
    class_names: Optional[Path] = typer.Option(
        None, "--class-names", help=CLASS_NAMES_HELP + MODEL_CLASS_NAMES_DEFAULT
    ),
    split: str = typer.Option("test", help=SPLIT_HELP),
    batch_size: int = typer.Option(
        64, "--batch-size", help="Evaluation batch size (anchor-mode results do not depend on it)."
    ),
    device: str = typer.Option("auto", help=DEVICE_HELP + " Checkpoints only."),
    backend: Optional[str] = typer.Option(None, "--backend", help=RUNTIME_BACKEND_HELP + " .onnx / engines only."),
    engine_cache: Optional[Path] = typer.Option(None, "--engine-cache", help=ENGINE_CACHE_HELP),
    engine_precision: Optional[str] = typer.Option(None, "--engine-precision", help=ENGINE_PRECISION_HELP),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write the confusion matrix as a PNG here."),
    explain: Optional[Path] = typer.Option(
        None, "--explain", help="A folder: one PNG per misclassified image with its k anchors (labels, weights); "
                                "an anchor-mode student: its checkpoint (torch), or its .onnx exported with neighbour "
                                "outputs and its .anchors.npy beside it."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Let --plot replace a model, engine, checkpoint or calibration set."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the full report (per-class accuracy, confusion matrix) as JSON."
    ),
) -> None:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint, an .onnx model or an engine."""
    from cnn2gnn.commands._evaluation import evaluate_model
    from cnn2gnn.contracts.classification_report import plot_confusion

    if plot is not None:
        refuse_clobbering_inputs({"--plot": plot}, {"checkpoint": checkpoint})
        if plot.suffix.lower() != ".png":
            raise Cnn2GnnError(f"--plot {plot}: the confusion matrix is written as a PNG; give a path ending in .png")
        check_writable_output(plot, "--plot")
        refuse_replacing_artifact(plot, "--plot", overwrite)
    if explain is not None:
        check_writable_output(explain, "--explain", folder=True)
    report = evaluate_model(checkpoint, data, split, batch_size, device, backend, engine_cache, engine_precision,
                            class_names, explain)
    if plot is not None:
        report["plot"] = str(plot_confusion(report, plot))
    worst = sorted((v, k) for k, v in report["per_class_accuracy"].items() if v is not None)[:3]
    on_backend = f" ({report['backend']})" if "backend" in report else ""
    human = (f"{report['kind']} {checkpoint}{on_backend} on {report['data']} [{split}], batch {batch_size}: "
             f"accuracy {report['accuracy']:.4f} ({report['num_samples']} images)\n"
             f"weakest classes: " + ", ".join(f"{k} {v:.3f}" for v, k in worst))
    if "explanations" in report:
        human += f"\nexplanations of {report['explanations']['images']} misclassified image(s): {explain}"
    emit(report, json_out, human)


def register(app: typer.Typer) -> None:
    app.command("train-teacher", cls=HelpCommand)(train_teacher_cmd)
    app.command("distill", cls=HelpCommand)(distill_cmd)
    app.command("evaluate", cls=HelpCommand)(evaluate_cmd)
