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
    room = f" of {after['capacity']} rows" if after["capacity"] is not None else ""
    if report["refittable_from_model"]:
        engines = (f"an engine built from {report['model']} with `cnn2gnn build --refittable` takes the new bank with "
                   f"`cnn2gnn refit ENGINE --onnx {report['output']}`; any other engine must be built again")
    else:
        engines = (f"its bank's shapes or its last layer differ from {report['model']}'s (a class added or removed, "
                   "another capacity, or an enrolled class's column fitted again), so engines built from that model "
                   "cannot be refitted: `cnn2gnn build` it again")
    fits = "".join(f"; {name!r} fitted: leave-one-out accuracy "
                   + ("n/a on its one image" if fit["loo_accuracy"] is None
                      else f"{100 * fit['loo_accuracy']:.0f}% on its own images")
                   + f", {100 * fit['others_loo_accuracy']:.1f}% on the other anchors"
                   for name, fit in report["class_fits"].items())
    warnings = "".join(f"\nwarning: {w}" for w in report["warnings"])
    return (f"{what}: {report['output']} ({before['anchors']} -> {after['anchors']} anchors{room}, "
            f"{before['classes']} -> {after['classes']} classes), bank sha256 {report['bank_sha256'][:12]}, "
            f"onnx sha256 {report['onnx_sha256'][:12]}{fits}; {engines}{warnings}")


def enroll_cmd(
    model: Path = typer.Argument(..., help="An FP32 anchor-mode student ONNX from `cnn2gnn export` (label_mode lp "
                                            "or both), with its .json sidecar and .anchors.npy thumbnails beside it."),
    output: Path = typer.Option(..., "--output", "-o", help="The new ONNX model (+ OUTPUT.json, OUTPUT.anchors.npy)."),
    images: Optional[Path] = typer.Option(None, "--images", help="A folder of the label's images (its files only)."),
    label: Optional[str] = typer.Option(None, "--label", help="The class the images show; a new name adds a class."),
    append: bool = typer.Option(False, "--append", help="Add the images to an existing --label."),
    remove_label: Optional[str] = typer.Option(
        None, "--remove-label", help="Instead: remove this class, its anchors and its logit."),
    capacity: Optional[int] = typer.Option(
        None, "--capacity", help="Rows of OUTPUT's anchor bank (anchors plus empty slots). Default: MODEL's reserved "
                                 "capacity (`export --bank-capacity`), whose empty slots the new anchors fill, keeping "
                                 "the shapes an engine refit needs; or, without one, the bank grows by the images."),
    class_weight: float = typer.Option(
        1.0, "--class-weight", help="How much a new class's own images count, against an average trained class's, "
                                    "when its logit is fitted: 1 (equal priors) by default; lower (e.g. 0.5) keeps the "
                                    "trained classes' accuracy at the new class's expense, higher the reverse."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUTPUT."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Add labelled anchors (a new class, or more images of one) to a student's anchor bank, or remove a class;
    every other weight stays bit-identical. Runs where the model runs: onnx, ONNX Runtime and OpenCV, no torch.

    A class enrolled after training gets its own logit: its column of the last layer (the mean direction of its
    images' hidden features), a bias and a vote scale, fitted on the whole bank by leave-one-out; the report gives
    the leave-one-out accuracy on the class's images and on the other anchors.

    Engines: `--append` to a trained class, into a bank with free reserved rows, keeps every shape and the last
    layer, so an engine built from MODEL with `cnn2gnn build --refittable` is updated by `cnn2gnn refit ENGINE
    --onnx OUTPUT`; any other change (a new or removed class, another capacity, more images of an enrolled class,
    whose column is fitted again) needs `cnn2gnn build`."""
    from cnn2gnn.export.enrol_anchors import enrol_anchors

    check_writable_output(output, "--output")
    refuse_clobbering_inputs({"--output": output, "the sidecar of --output": sidecar_path(output),
                              "the thumbnails of --output": thumbnails_path(output)},
                             {"MODEL": model, "MODEL's sidecar": sidecar_path(model), "MODEL's thumbnails": thumbnails_path(model),
                              "--images": images})
    if output.exists() and not overwrite:
        raise Cnn2GnnError(f"--output {output} exists; add --overwrite to replace it, or choose another path")
    report = enrol_anchors(model, output, images=images, label=label, append=append, remove_label=remove_label,
                           capacity=capacity, class_weight=class_weight)
    emit(report, json_out, _format(report))


def register(app: typer.Typer) -> None:
    app.command("enroll", cls=HelpCommand)(enroll_cmd)
