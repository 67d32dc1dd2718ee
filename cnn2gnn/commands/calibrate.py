"""The ``calibrate`` command: an FP32 ONNX -> an INT8 Q/DQ ONNX (onnx and ONNX Runtime are imported when it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.calibration.accuracy_budget import (
    DEFAULT_MAX_DROP_POINTS,
    DEFAULT_MIN_NEIGHBOUR_AGREEMENT,
    DEFAULT_MIN_TOP1_AGREEMENT,
)
from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import CLASS_NAMES_HELP, DATA_HELP, MODEL_CLASS_NAMES_DEFAULT, emit
from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.output_paths import (
    check_writable_output,
    refuse_clobbering_inputs,
    refuse_replacing_another_run,
    refuse_replacing_artifact,
)


def calibrate_cmd(
    model: Path = typer.Argument(..., help="The FP32 ONNX model from `cnn2gnn export`."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Where to write the INT8 Q/DQ model (e.g. model.int8.onnx)."
    ),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP + " Default: the model's training data."),
    class_names: Optional[Path] = typer.Option(
        None, "--class-names", help=CLASS_NAMES_HELP + MODEL_CLASS_NAMES_DEFAULT
    ),
    num_images: int = typer.Option(
        512, "--num-images", help="Calibration images, class-balanced from the TRAINING split."
    ),
    method: str = typer.Option(
        "minmax", "--method", help="Activation ranges: minmax | entropy | percentile (99.999%)."
    ),
    quantize_graph: bool = typer.Option(
        False, "--quantize-graph",
        help="Quantise the graph path too (projection, distances, TopK, neighbour weights, and the novelty's cosines "
             "to the anchors); by default it stays float."
    ),
    calibration_set: Optional[Path] = typer.Option(
        None, "--calibration-set",
        help="Reuse this calibration set (.npz) if its key matches, create it if missing; a set made for another "
             "model/data/preprocessing is refused. Default: written to OUTPUT.calibration.npz."
    ),
    report: Optional[Path] = typer.Option(None, "--report", help="Report JSON path (default OUTPUT.report.json)."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the calibration-image draw (the train/val split uses the model's training seed)."
    ),
    latency_iterations: int = typer.Option(
        100, "--latency-iterations",
        help="Timed ONNX Runtime CPU runs per batch size for the FP32 vs INT8 latency (0: skip)."
    ),
    max_drop: float = typer.Option(
        DEFAULT_MAX_DROP_POINTS, "--max-drop",
        help="Accuracy budget: the most the INT8 model may lose against FP32, in points, on the held-out "
             "validation split. Out of budget, the fewest measured-harmful nodes stay float; if no mix meets "
             "the budget, nothing is written and the command fails."
    ),
    min_agreement: float = typer.Option(
        DEFAULT_MIN_TOP1_AGREEMENT, "--min-agreement",
        help="Accuracy budget: the least top-1 agreement with FP32 (a fraction)."
    ),
    min_neighbour_agreement: float = typer.Option(
        DEFAULT_MIN_NEIGHBOUR_AGREEMENT, "--min-neighbour-agreement",
        help="Accuracy budget: the least fraction of samples whose k neighbour set is unchanged (graph students)."
    ),
    allow_over_budget: bool = typer.Option(
        False, "--allow-over-budget",
        help="Write the best INT8 model found even if it misses the budget (marked over_budget in its metadata "
             "and report)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite",
        help="Replace an OUTPUT that holds a model made from another FP32 model, or a --report that is an artifact."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """INT8 explicit quantisation: a Q/DQ ONNX (symmetric INT8, per-channel weights) for TensorRT 10/11 and
    ONNX Runtime."""
    from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx
    from cnn2gnn.calibration.calibration_report import format_calibration_report

    _check_output_paths(model, output, calibration_set, report, overwrite)
    result = calibrate_onnx(model, output, data, num_images=num_images, method=method, quantize_graph=quantize_graph,
                            calibration_set=calibration_set, report=report, seed=seed,
                            latency_iterations=latency_iterations, max_drop=max_drop, min_agreement=min_agreement,
                            min_neighbour_agreement=min_neighbour_agreement, allow_over_budget=allow_over_budget,
                            class_names=class_names)
    emit(result, json_out, format_calibration_report(result))


def _check_output_paths(model: Path, output: Path, calibration_set: Optional[Path], report: Optional[Path],
                        overwrite: bool) -> None:
    """Before any work: no output is an input, none replaces another run's artifact, all can be written.
    An existing --calibration-set is an input (it is reused); a missing one is written."""
    from cnn2gnn.calibration.calibrate_onnx import default_calibration_set_path, default_report_path

    report_path = report if report is not None else default_report_path(output)
    set_path = calibration_set if calibration_set is not None else default_calibration_set_path(output)
    set_is_input = calibration_set is not None and calibration_set.exists()
    outputs = {"--output": output, "the sidecar of --output": sidecar_path(output),
               "the thumbnails of --output": thumbnails_path(output), "--report": report_path,
               "--calibration-set": None if set_is_input else set_path}
    refuse_clobbering_inputs(outputs, {"FP32 model": model, "FP32 model's sidecar": sidecar_path(model),
                                       "FP32 model's thumbnails": thumbnails_path(model),
                                       "--calibration-set": set_path if set_is_input else None})
    for option, path in outputs.items():
        if path is not None and option.startswith("--"):
            check_writable_output(path, option)
    refuse_replacing_artifact(report_path, "--report", overwrite)

    def calibrated_from_this_model(sidecar: dict[str, Any]) -> bool:  # a re-run replaces its own output
        source = ((sidecar.get("extra") or {}).get("calibration") or {}).get("source_onnx_sha256")
        return model.is_file() and source == sha256_file(model)

    refuse_replacing_another_run(output, "--output", calibrated_from_this_model, overwrite)


def register(app: typer.Typer) -> None:
    app.command("calibrate", cls=HelpCommand)(calibrate_cmd)
