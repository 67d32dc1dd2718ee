"""The ``enroll`` command: new labelled anchors into an exported student's bank, without retraining (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import emit
from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.output_paths import check_writable_output, refuse_clobbering_inputs


def _format(report: dict[str, Any]) -> str:
    what = {"enrol": f"enrolled {report['images']} image(s) as the new class {report['label']!r}",
            "append": f"added {report['images']} image(s) to {report['label']!r}",
            "remove": f"removed the class {report['label']!r} and its anchors"}[report["action"]]
    before, after = report["before"], report["after"]
    return (f"{what}: {report['output']} ({before['anchors']} -> {after['anchors']} anchors, "
            f"{before['classes']} -> {after['classes']} classes), bank sha256 {report['bank_sha256'][:12]}, "
            f"onnx sha256 {report['onnx_sha256'][:12]}; engines built from {report['model']} do not match it: "
            "`cnn2gnn build` it again")


def enroll_cmd(
    model: Path = typer.Argument(..., help="An FP32 anchor-mode student ONNX from `cnn2gnn export` (label_mode lp "
                                            "or both), with its .json sidecar and .anchors.npy thumbnails beside it."),
    output: Path = typer.Option(..., "--output", "-o", help="The new ONNX model (+ OUTPUT.json, OUTPUT.anchors.npy)."),
    images: Optional[Path] = typer.Option(None, "--images", help="A folder of the label's images (its files only)."),
    label: Optional[str] = typer.Option(None, "--label", help="The class the images show; a new name adds a class."),
    append: bool = typer.Option(False, "--append", help="Add the images to an existing --label."),
    remove_label: Optional[str] = typer.Option(
        None, "--remove-label", help="Instead: remove this class, its anchors and its logit."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUTPUT."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Add labelled anchors (a new class, or more images of one) to a student's anchor bank, or remove a class;
    every other weight stays bit-identical. Runs where the model runs: onnx, ONNX Runtime and OpenCV, no torch."""
    from cnn2gnn.export.enrol_anchors import enrol_anchors

    check_writable_output(output, "--output")
    refuse_clobbering_inputs({"--output": output, "the sidecar of --output": sidecar_path(output),
                              "the thumbnails of --output": thumbnails_path(output)},
                             {"MODEL": model, "its sidecar": sidecar_path(model), "its thumbnails": thumbnails_path(model),
                              "--images": images})
    if output.exists() and not overwrite:
        raise Cnn2GnnError(f"--output {output} exists; add --overwrite to replace it, or choose another path")
    report = enrol_anchors(model, output, images=images, label=label, append=append, remove_label=remove_label)
    emit(report, json_out, _format(report))


def register(app: typer.Typer) -> None:
    app.command("enroll", cls=HelpCommand)(enroll_cmd)
