"""What several commands share: result printing, option help texts and option-value parsing.

Parsing helpers raise :class:`Cnn2GnnError` naming the option and the value, like every other user
error: the CLI prints it as one ``error: ...`` line and exits 1 (click's own usage errors exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.contracts.errors import Cnn2GnnError

DATA_HELP = ("Dataset: digits (embedded default) | imagefolder:PATH | cifar10:PATH | cifar100:PATH | idx:PATH | "
             "mini-imagenet:PATH.")
# --class-names: one option, the same for every command that takes --data (load_dataset applies it).
CLASS_NAMES_HELP = ("Class names file: one name per line in label order (line 1 names label 0), replacing the "
                    "dataset's own (IDX classes.txt, CIFAR batches.meta, digits 0..9); the names go into the "
                    "checkpoint and the exported model.")
MODEL_CLASS_NAMES_DEFAULT = " Default: the model's own names when --data is left out, else the dataset's."
DEVICE_HELP = "auto (CUDA when available), cpu or cuda."
SPLIT_HELP = "train | val | test."
# Where `distill` keeps teacher logits by default, and what `cnn2gnn cache` lists and clears.
TEACHER_CACHE_DIR = Path.home() / ".cache" / "cnn2gnn"


def emit(result: dict[str, Any], as_json: bool, human: str) -> None:
    """Print a result for a script (``--json``: one JSON document on stdout) or for a person."""
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        typer.echo(human)


def parse_floats(text: Optional[str], option: str) -> Optional[tuple[float, ...]]:
    """``"0.485,0.456,0.406"`` -> ``(0.485, 0.456, 0.406)``; ``None`` stays ``None`` (the default applies)."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise Cnn2GnnError(f"{option} takes comma-separated numbers, e.g. 0.485,0.456,0.406; got {text!r}") from None


def parse_positive_ints(text: str, option: str) -> list[int]:
    """``"1,8,64"`` -> ``[1, 8, 64]``; empty, non-integer or < 1 entries are refused."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise Cnn2GnnError(f"{option} takes comma-separated positive integers, e.g. 1,8,64; got {text!r}")
    return values


def require_at_least(value: int, minimum: int, option: str) -> int:
    if value < minimum:
        raise Cnn2GnnError(f"{option} must be at least {minimum}, got {value}")
    return value
