"""The ``cnn2gnn`` command line: train-teacher -> distill -> export -> calibrate -> build -> run / bench.

The commands live in :mod:`cnn2gnn.commands`, one module per pipeline stage; this module is the app
they are registered on and the console-script entry point. User errors (:class:`Cnn2GnnError`,
including bad option values) print one ``error: ...`` line, no traceback, and exit 1 (or the error's
own ``exit_code``); click's usage errors (unknown option, missing argument) exit 2.
"""

from __future__ import annotations

import sys

import typer

from cnn2gnn import __version__
from cnn2gnn.commands import (
    cache,
    calibrate,
    doctor,
    engine,
    enroll,
    export,
    runtime,
    serve_config,
    stream,
    training,
)
from cnn2gnn.commands._help_format import HelpGroup
from cnn2gnn.contracts.errors import Cnn2GnnError

app = typer.Typer(
    name="cnn2gnn",
    cls=HelpGroup,
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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """cnn2gnn: dataset -> CNN teacher -> distilled GNN student -> ONNX -> INT8 -> TensorRT engine -> camera."""


# In pipeline order, which is the order `cnn2gnn --help` lists them in.
for stage in (training, export, enroll, calibrate, engine, serve_config, runtime, stream, doctor, cache):
    stage.register(app)


def main() -> None:
    try:
        app()
    except Cnn2GnnError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))


if __name__ == "__main__":
    main()
