"""Export commands: ``export`` (checkpoint -> ONNX) and ``check`` (static TensorRT compatibility of an ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import emit
from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.output_paths import check_writable_output, refuse_clobbering_inputs, refuse_replacing_another_run


def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A teacher or anchor-mode student checkpoint (best.pt)."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="ONNX file to write; its metadata sidecar goes to OUTPUT.json."
    ),
    opset: int = typer.Option(17, "--opset", help="ONNX opset, 17..20 (17 parses on every TensorRT 10)."),
    parity_samples: int = typer.Option(
        256, "--parity-samples", help="Test images for the ONNX Runtime vs PyTorch parity check."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an OUTPUT that holds a model exported from another checkpoint."
    ),
    neighbour_outputs: bool = typer.Option(
        True, "--neighbour-outputs/--no-neighbour-outputs",
        help="Anchor-mode students: also output neighbour_index, neighbour_weight and novelty after logits "
             "(run --explain, open-set 'unknown'); the anchor thumbnails go to OUTPUT.anchors.npy either way.",
    ),
    unknown_tpr: Optional[float] = typer.Option(
        None, "--unknown-tpr", help="Anchor-mode students: store the novelty threshold that accepts this share of "
                                    "validation images (e.g. 0.95); `run` then flags frames above it as unknown."),
    bank_capacity: Optional[int] = typer.Option(
        None, "--bank-capacity", help="Anchor-mode students: reserve rows in the anchor bank up to this many (empty "
                                      "slots, never chosen as neighbours), so `cnn2gnn enroll` can add anchors without "
                                      "changing shapes and an engine built with `build --refittable` can be refitted "
                                      "(`cnn2gnn refit`) instead of rebuilt."),
    json_out: bool = typer.Option(False, "--json", help="Print the export report as JSON."),
) -> None:
    """Export to ONNX ("images" N,C,H,W -> "logits", dynamic batch); nothing is written unless the ONNX checker,
    the TensorRT check and parity with PyTorch (batch 1 and 64, max |Δlogit| <= 1e-4, 100% top-1) all pass."""
    from cnn2gnn.export.onnx_from_checkpoint import format_export_report, onnx_from_checkpoint

    check_writable_output(output, "--output")
    refuse_clobbering_inputs({"--output": output, "the sidecar of --output": sidecar_path(output)},
                             {"checkpoint": checkpoint})

    def exported_from_this_checkpoint(sidecar: dict[str, Any]) -> bool:  # a re-export replaces its own output
        return (sidecar.get("precision") == "fp32" and checkpoint.is_file()
                and sidecar.get("source_checkpoint_sha256") == sha256_file(checkpoint))

    refuse_replacing_another_run(output, "--output", exported_from_this_checkpoint, overwrite)
    report = onnx_from_checkpoint(checkpoint, output, opset=opset, parity_samples=parity_samples,
                                  neighbour_outputs=neighbour_outputs, unknown_tpr=unknown_tpr,
                                  bank_capacity=bank_capacity)
    emit(report, json_out, format_export_report(report))


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


def register(app: typer.Typer) -> None:
    app.command("export", cls=HelpCommand)(export_cmd)
    app.command("check", cls=HelpCommand)(check_cmd)
