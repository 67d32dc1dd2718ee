"""Ctrl-C during ``train-teacher`` / ``distill``: say how to continue the run, then exit 130 (SIGINT's code).

Checkpoints are written atomically, so after an interrupt ``OUT/last.pt`` is the last finished epoch;
the hint is the user's own command line with ``--resume`` added (and ``--overwrite`` dropped, which
would otherwise be needed only to start afresh).
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path
from typing import Iterator

import typer

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for a process ended by Ctrl-C


def resume_command(command: str, out: Path, argv: list[str]) -> str:
    """``cnn2gnn COMMAND ...the user's options... --resume``, from ``argv`` when it holds ``command``."""
    args = argv[argv.index(command) + 1:] if command in argv else ["--out", str(out)]
    kept = [a for a in args if a not in ("--resume", "--overwrite")]
    return shlex.join(["cnn2gnn", command, *kept, "--resume"])


@contextlib.contextmanager
def resume_hint_on_interrupt(command: str, out: Path) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        if (out / "last.pt").is_file():
            typer.echo(f"interrupted; resume with: {resume_command(command, out, sys.argv)}", err=True)
        else:
            typer.echo(f"interrupted before the first epoch finished: {out} holds no last.pt to resume from; "
                       "run the command again", err=True)
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
