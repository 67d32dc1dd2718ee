"""Output paths a command may write, checked before it does any work.

Three rules every command that writes files follows:

* an output is never one of the command's inputs (nor another of its outputs): writing it would
  destroy what the command reads (``run M.onnx SRC --out M.onnx``);
* an output that already holds an artifact of another run (a model, engine, checkpoint or
  calibration set made from other inputs) is replaced only with ``--overwrite``;
* an output is refused up front when it cannot be written (a read-only folder, a "folder" that is a
  file), so a user learns it in a second and not after the expensive part.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import sidecar_if_readable, sidecar_path

# What cnn2gnn writes as artifacts of a run (models, engines, checkpoints, calibration sets); a stream
# log, report or plot given such a path would destroy one.
# Exported models, which get companion files beside them (a sidecar; an ONNX student also its anchor thumbnails).
MODEL_SUFFIXES = (".onnx", ".engine", ".plan")
ARTIFACT_SUFFIXES = (*MODEL_SUFFIXES, ".pt", ".npz")
OVERWRITE_FLAG = "--overwrite"


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode when both exist (hard links, symlinks,
    ``./x`` vs ``x``), else the same resolved path."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def refuse_clobbering_inputs(
    outputs: Mapping[str, str | os.PathLike[str] | None], inputs: Mapping[str, str | os.PathLike[str] | None]
) -> None:
    """Refuse an output that is one of ``inputs`` or another of ``outputs`` (labels name the options;
    ``None`` entries are skipped)."""
    given_outputs = [(label, Path(p)) for label, p in outputs.items() if p is not None]
    given_inputs = [(label, Path(p)) for label, p in inputs.items() if p is not None]
    for i, (label, out) in enumerate(given_outputs):
        for in_label, source in given_inputs:
            if same_file(out, source):
                raise Cnn2GnnError(
                    f"{label} {out} is the {in_label} {source}: writing it would destroy the input; "
                    "choose another output path"
                )
        for other_label, other in given_outputs[i + 1:]:
            if same_file(out, other):
                raise Cnn2GnnError(
                    f"{label} and {other_label} are the same file {out}: one would overwrite the other; "
                    "give each its own path"
                )


def _model_companions(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The files written beside the model ``path`` (none for other files), by what they are."""
    p = Path(path)
    if p.suffix.lower() not in MODEL_SUFFIXES:
        return {}
    companions = {"sidecar": sidecar_path(p)}
    if p.suffix.lower() == ".onnx":
        companions["anchor thumbnails"] = thumbnails_path(p)
    return companions


def check_writable_output(path: str | os.PathLike[str], option: str, folder: bool = False) -> None:
    """Refuse ``path`` now if it cannot be written later: a folder where a file is wanted (or the
    reverse, or where a model's companion file goes), a parent that is a file, or a folder this user
    may not write in."""
    p = Path(path)
    if p.exists() and p.is_dir() != folder:
        wanted, found = ("folder", "file") if folder else ("file", "folder")
        raise Cnn2GnnError(f"cannot write {option} {p}: it is a {found}, not a {wanted}; give a {wanted} path")
    for what, companion in ({} if folder else _model_companions(p)).items():
        if companion.is_dir():
            raise Cnn2GnnError(
                f"cannot write {option} {p}: its {what} {companion} would go where a folder is; remove the folder "
                f"or choose another {option} path"
            )
    parent = p if folder else p.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise Cnn2GnnError(
            f"cannot write {option} {p}: {existing} is a file, not a folder; choose a path in a folder"
        )
    try:  # a real probe, not os.access: it also sees read-only file systems, ACLs and full quotas
        fd, probe = tempfile.mkstemp(prefix=".cnn2gnn-write-check.", dir=existing)
    except OSError as exc:
        raise Cnn2GnnError(
            f"cannot write {option} {p}: the folder {existing} is not writable ({exc.strerror or exc}); "
            "choose a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(probe)


def refuse_replacing_another_run(
    path: str | os.PathLike[str],
    option: str,
    made_by_this_run: Callable[[dict[str, Any]], bool],
    overwrite: bool,
) -> None:
    """Refuse to replace an existing model at ``path`` unless its sidecar shows it was made from the same
    inputs (``made_by_this_run(sidecar)``: re-running a command is fine) or ``overwrite`` is set."""
    p = Path(path)
    if overwrite or not p.is_file():
        return
    sidecar = sidecar_if_readable(p)
    if sidecar is not None and made_by_this_run(sidecar):
        return
    what = ("a model made from other inputs" if sidecar is not None
            else f"a file without a cnn2gnn sidecar {sidecar_path(p).name}")
    raise Cnn2GnnError(
        f"{option} {p} already exists and holds {what}; pass {OVERWRITE_FLAG} to replace it, or choose another path"
    )


def refuse_replacing_artifact(path: str | os.PathLike[str] | None, option: str, overwrite: bool) -> None:
    """Refuse to write a log, report or plot over a model, engine, checkpoint or calibration set (or a
    model's sidecar) unless ``overwrite``: those are artifacts of another run, not earlier output of this one."""
    if path is None or overwrite:
        return
    p = Path(path)
    if not p.is_file():
        return
    companion = p.with_name(p.name[: -len(".json")]) if p.name.endswith(".json") else None
    if p.suffix.lower() in ARTIFACT_SUFFIXES or sidecar_path(p).is_file():
        what = "a cnn2gnn artifact (model, engine, checkpoint or calibration set)"
    elif companion is not None and companion.is_file():
        what = f"the metadata sidecar of {companion.name}"
    else:
        return
    raise Cnn2GnnError(
        f"{option} {p} already exists and is {what}; pass {OVERWRITE_FLAG} to replace it, or choose another path"
    )
