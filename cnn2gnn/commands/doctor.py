"""The ``doctor`` command: what this machine has that cnn2gnn needs, for a bug report (always exits 0)."""

from __future__ import annotations

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import emit


def doctor_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Versions and builds of everything cnn2gnn uses (Python, numpy, OpenCV, ONNX Runtime, TensorRT, CUDA), the GPU,
    the Jetson model and JetPack release, the cameras, and the fix for each finding that blocks a feature.

    Paste its output into bug reports. It is a report, so it exits 0 whatever it finds.
    """
    from cnn2gnn.runtime.doctor.report import doctor_dict, format_doctor, run_doctor

    sections = run_doctor()
    emit(doctor_dict(sections), json_out, format_doctor(sections))


def register(app: typer.Typer) -> None:
    app.command("doctor", cls=HelpCommand)(doctor_cmd)
