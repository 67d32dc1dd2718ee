"""The ``cache`` command: list or clear what cnn2gnn caches, the teacher logits of ``distill`` and the engines
built on first run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import TEACHER_CACHE_DIR, emit
from cnn2gnn.contracts.errors import Cnn2GnnError


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB"


def _listing(result: dict[str, Any]) -> str:
    lines = []
    for title, folder, entries in (("teacher logits", result["teacher_cache_dir"], result["teacher_logits"]),
                                   ("engines", result.get("engine_cache_dir"), result.get("engines"))):
        if folder is None:
            continue
        total = sum(e["bytes"] for e in entries)
        missing = "" if Path(folder).is_dir() else " (no such folder: nothing cached there yet, or a typo?)"
        lines.append(f"{title} in {folder}: {len(entries)} file{'s' * (len(entries) != 1)}, {_size(total)}{missing}")
        for e in entries:
            what = (e["problem"] if "problem" in e else
                    f"{e.get('split')} split, logits {e.get('shape')}" if "shape" in e else
                    f"{e.get('precision')}, TensorRT {e.get('tensorrt_version')}, {e.get('gpu')}, from "
                    f"{e.get('source_onnx')}")
            lines.append(f"  {Path(e['path']).name}  {_size(e['bytes'])}  {what}")
    return "\n".join(lines)


def cache_cmd(
    list_: bool = typer.Option(False, "--list", help="List the cached files (the default)."),
    clear: bool = typer.Option(False, "--clear", help="Delete the cached files."),
    cache_dir: Path = typer.Option(TEACHER_CACHE_DIR, "--cache-dir", help="Teacher-logit cache of `distill`."),
    engine_cache: Optional[Path] = typer.Option(
        None, "--engine-cache",
        help="Also cnn2gnn's engines in this folder (the model's folder, or run's --engine-cache): built on first "
             "run or by `build`; engine files without a cnn2gnn sidecar (another tool's) are kept."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """List or clear the teacher-logit cache (and, with --engine-cache, the engines built on first run)."""
    from cnn2gnn.toolchain.distill.teacher_cache import (
        describe_teacher_cache,
        remove_teacher_cache_entry,
        teacher_cache_files,
    )

    if list_ and clear:
        raise Cnn2GnnError("--list and --clear exclude each other")
    for option, folder in (("--cache-dir", cache_dir), ("--engine-cache", engine_cache)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise Cnn2GnnError(f"{option} {folder} is a file; give the folder the cache is kept in")
    if clear:
        removed = []
        for path in teacher_cache_files(cache_dir):
            remove_teacher_cache_entry(path)
            removed.append(str(path))
        result: dict[str, Any] = {"teacher_cache_dir": str(cache_dir), "teacher_logits_removed": removed}
        human = f"removed {len(removed)} teacher-logit file{'s' * (len(removed) != 1)} from {cache_dir}"
        if engine_cache is not None:
            from cnn2gnn.engine.engine_cache import clear_engine_cache

            cleared = clear_engine_cache(engine_cache)
            result.update(engine_cache_dir=str(engine_cache), engines_removed=cleared["removed"],
                          engines_in_use=cleared["skipped_in_use"], engines_kept_foreign=cleared["kept_foreign"])
            human += f"\nremoved {len(cleared['removed'])} engine(s) from {engine_cache}" + (
                f"; left {len(cleared['skipped_in_use'])} in use by another cnn2gnn process"
                if cleared["skipped_in_use"] else "") + (
                f"; kept {len(cleared['kept_foreign'])} without a cnn2gnn sidecar (another tool's): "
                f"{', '.join(Path(p).name for p in cleared['kept_foreign'])}" if cleared["kept_foreign"] else "")
        emit(result, json_out, human)
        return
    result = {"teacher_cache_dir": str(cache_dir),
              "teacher_logits": [describe_teacher_cache(p) for p in teacher_cache_files(cache_dir)]}
    if engine_cache is not None:
        from cnn2gnn.engine.engine_cache import cached_engines

        result.update(engine_cache_dir=str(engine_cache), engines=cached_engines(engine_cache))
    emit(result, json_out, _listing(result))


def register(app: typer.Typer) -> None:
    app.command("cache", cls=HelpCommand)(cache_cmd)
