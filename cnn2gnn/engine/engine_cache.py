"""Build on first run: an ONNX model given to ``--backend tensorrt`` becomes a cached engine for this device.

TensorRT engines are tied to the TensorRT version and GPU that built them, so users copy the ONNX
to the device and the first run builds the engine there (jetson-inference's habit). The engine is
cached beside the model (or in ``--engine-cache DIR``) under the name :func:`engine_file_name`
gives its key, and reused only while :func:`engine_reuse_problems` finds nothing wrong with it: a
stale engine (another ONNX, precision, TensorRT, GPU, DLA core, builder flags) or a truncated or
altered one (its sha256 differs from its sidecar's) is rebuilt with a message, never loaded.

Concurrent first runs take an exclusive lock on ``<engine>.lock`` around check-build-publish: one
builds, the others wait and then reuse its engine. The build goes to a staging folder beside the
cache and is published by atomic renames, so a reader never sees half an engine. Everything here but
the build itself (the ``build`` parameter, TensorRT's :func:`engine_from_onnx` by default) runs
without TensorRT, so it is tested on any machine.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnn2gnn.contracts.engine_sidecar import ENGINE_SIDECAR_FORMAT, read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.file_lock import exclusive_file_lock
from cnn2gnn.contracts.gpu_info import GpuInfo, compute_capability_text, query_gpu_info
from cnn2gnn.contracts.metadata import sidecar_if_readable, sidecar_path
from cnn2gnn.contracts.trt_version import TrtVersion, parse_trt_version
from cnn2gnn.engine.build_plan import plan_build
from cnn2gnn.engine.engine_key import (
    ENGINE_SUFFIXES,
    engine_key_for_plan,
    engine_reuse_problems,
    resolve_engine_path,
)
from cnn2gnn.engine.onnx_facts import OnnxFacts, read_onnx_facts
from cnn2gnn.engine.profiles import batch_profile
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt

LOCK_SUFFIX = ".lock"
STAGING_PREFIX = ".building-"
# Precisions a plain FP32 ONNX can be built at without a calibration set.
ONNX_BUILD_PRECISIONS = ("fp32", "fp16")
# (onnx, engine path to write with its sidecar, precision, DLA core): the TensorRT build.
EngineBuilder = Callable[[Path, Path, str, "int | None"], None]


@dataclass(frozen=True)
class BuildTarget:
    """What an engine built here is for: the installed TensorRT and the GPU."""

    tensorrt_version: TrtVersion
    gpu: GpuInfo


@dataclass
class CachedEngine:
    path: Path
    built: bool  # False: an engine already in the cache was reused
    reasons: list[str] = field(default_factory=list)  # why it was (re)built
    build_seconds: float = 0.0


def current_build_target(onnx_path: Path) -> BuildTarget:
    """This machine's TensorRT and GPU, or :class:`Cnn2GnnError` saying what is missing."""
    try:
        version = parse_trt_version(require_tensorrt())
        gpu = query_gpu_info()
    except Cnn2GnnError as exc:
        raise Cnn2GnnError(
            f"--backend tensorrt builds an engine from {onnx_path} on first use, and cannot here: {exc}. "
            "Or run the model with --backend onnxruntime"
        ) from exc
    return BuildTarget(version, gpu)


def engine_precision(facts: OnnxFacts, requested: str | None) -> str:
    """The precision to build ``facts``' model at: what the model records (a Q/DQ model is INT8, an
    FP16 ONNX is FP16), else ``requested`` (fp32 / fp16; default fp32, the model as exported)."""
    recorded = "int8" if facts.is_qdq else "fp16" if facts.is_fp16 else None
    if requested is not None and requested not in ONNX_BUILD_PRECISIONS:
        raise Cnn2GnnError(
            f"--engine-precision {requested!r}: use {' or '.join(ONNX_BUILD_PRECISIONS)} (an INT8 engine is built "
            "from the Q/DQ model of `cnn2gnn calibrate`, whose precision is recorded in it)"
        )
    if recorded is not None and requested not in (None, recorded):
        raise Cnn2GnnError(
            f"{facts.path} is an {recorded.upper()} model, so its engine is {recorded}: drop --engine-precision "
            f"{requested}, or pass the FP32 ONNX"
        )
    return recorded or requested or "fp32"


def build_engine_with_tensorrt(onnx_path: Path, engine_path: Path, precision: str, dla_core: int | None) -> None:
    """The TensorRT build, with ``cnn2gnn build``'s defaults (batch 1/1/64, 1 GiB workspace)."""
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    built = engine_from_onnx(onnx_path, engine_path, precision=precision, dla_core=dla_core, force=True,
                             progress=sys.stderr.isatty())
    for warning in built.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def lock_path_for(engine_path: Path) -> Path:
    return engine_path.with_name(engine_path.name + LOCK_SUFFIX)


def publish_staged_engine(staged: Path, engine_path: Path, key: dict[str, Any]) -> None:
    """Check the staged engine (built or refitted) is the one asked for, then rename it (and its sidecar) into
    place."""
    if not staged.is_file() or not sidecar_path(staged).is_file():
        raise Cnn2GnnError(f"the engine build left no {staged.name} with its sidecar; nothing was written to {engine_path}")
    problems = engine_reuse_problems(staged, key)
    if problems:
        raise Cnn2GnnError(
            f"the engine just made from {key['model']} is not the one asked for ({'; '.join(problems)}); "
            f"nothing was written to {engine_path}"
        )
    # Engine first, then the sidecar: between the two renames the pair disagrees (sha256), which a
    # crash there leaves behind as a "changed after its sidecar" engine that the next run rebuilds.
    os.replace(staged, engine_path)
    os.replace(sidecar_path(staged), sidecar_path(engine_path))


def engine_for_onnx(
    onnx_path: str | Path,
    *,
    precision: str | None = None,
    cache_dir: str | Path | None = None,
    dla_core: int | None = None,
    target: Callable[[Path], BuildTarget] = current_build_target,
    build: EngineBuilder = build_engine_with_tensorrt,
    notify: Callable[[str], None] | None = None,
) -> CachedEngine:
    """The cached engine of ``onnx_path`` for this device, built first if it is missing or stale.

    The ONNX is checked before TensorRT is looked for, so a wrong file is named as such. ``cache_dir``:
    the folder to cache in (default: the ONNX's). ``notify`` gets every message for the user (default:
    stderr). ``target`` and ``build`` are the TensorRT-facing parts; tests pass stand-ins.
    """
    say = notify or (lambda message: print(message, file=sys.stderr, flush=True))
    onnx = Path(onnx_path)
    if onnx.suffix.lower() != ".onnx":
        raise Cnn2GnnError(f"{onnx}: an engine is built from an .onnx model; got {onnx.suffix or 'no suffix'!r}")
    facts = read_onnx_facts(onnx)
    wanted_precision = engine_precision(facts, precision)
    here = target(onnx)
    plan = plan_build(here.tensorrt_version, wanted_precision, facts.is_qdq, facts.is_fp16, False, dla_core=dla_core,
                      gpu=here.gpu, model=str(onnx))
    profile = batch_profile(facts.input_shape, input_name=f"{onnx.name} input")
    key = engine_key_for_plan(facts, plan, here.tensorrt_version, here.gpu, profile)
    if cache_dir is not None and Path(cache_dir).suffix.lower() in ENGINE_SUFFIXES:
        raise Cnn2GnnError(f"--engine-cache {cache_dir}: give a folder, not an engine file")
    engine_path = resolve_engine_path(cache_dir, onnx, key)
    engine_path.parent.mkdir(parents=True, exist_ok=True)

    def waiting() -> None:
        say(f"waiting for another cnn2gnn process to finish building {engine_path.name} "
            f"(it holds {lock_path_for(engine_path)})")

    with exclusive_file_lock(lock_path_for(engine_path), on_wait=waiting):
        problems = engine_reuse_problems(engine_path, key)
        if problems == []:
            return CachedEngine(engine_path, built=False)
        what = (f"{wanted_precision} engine for TensorRT {here.tensorrt_version} on {here.gpu.name} "
                f"(compute capability {compute_capability_text(here.gpu.compute_capability)})")
        if problems is None:
            reasons = [f"no cached engine at {engine_path}"]
            say(f"building the {what} from {onnx.name} (first run; later runs reuse {engine_path})")
        else:
            reasons = problems
            say(f"the cached engine {engine_path} cannot be used: {'; '.join(problems)}\n"
                f"rebuilding the {what} from {onnx.name}")
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=engine_path.parent))
        try:
            staged = staging / engine_path.name
            started = time.perf_counter()
            build(onnx, staged, wanted_precision, dla_core)
            seconds = time.perf_counter() - started
            publish_staged_engine(staged, engine_path, key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        say(f"built {engine_path} in {seconds:.1f} s")
        return CachedEngine(engine_path, built=True, reasons=reasons, build_seconds=seconds)


def cached_engines(cache_dir: str | Path) -> list[dict[str, Any]]:
    """The engines in ``cache_dir`` with what their sidecars say (empty when the folder is missing)."""
    found = []
    for path in _engine_files(cache_dir):
        entry: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size}
        try:
            sidecar = read_engine_sidecar(path)
        except Cnn2GnnError as exc:
            entry["problem"] = str(exc)
        else:
            entry.update(precision=sidecar.precision, tensorrt_version=sidecar.tensorrt_version,
                         gpu=sidecar.gpu_name, compute_capability=sidecar.compute_capability,
                         source_onnx=sidecar.source_onnx, built_at=sidecar.built_at)
            problems = (engine_reuse_problems(path, sidecar.key) if sidecar.key
                        else ["its sidecar records no engine key (made by another tool or an older cnn2gnn)"])
            if problems:
                entry["problem"] = "; ".join(problems)
        found.append(entry)
    return found


def _engine_files(cache_dir: str | Path) -> list[Path]:
    folder = Path(cache_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in ENGINE_SUFFIXES and p.is_file())


def _made_by_cnn2gnn(engine: Path) -> bool:
    """Its sidecar is a cnn2gnn one, of any format version, however stale its contents."""
    sidecar = sidecar_if_readable(engine)
    format_family = ENGINE_SIDECAR_FORMAT.rsplit("/", 1)[0] + "/"
    return sidecar is not None and (str(sidecar.get("format", "")).startswith(format_family)
                                    or "cnn2gnn_version" in sidecar)


def clear_engine_cache(cache_dir: str | Path) -> dict[str, list[str]]:
    """Delete cnn2gnn's engines in ``cache_dir`` (with their sidecars and lock files), stale or damaged ones too.
    An engine file without a sidecar that says cnn2gnn wrote it is another tool's, or not an engine at all: it is
    kept and listed as foreign. An engine another process is building or checking right now (its lock is held) is
    left alone and listed as skipped."""
    removed: list[str] = []
    skipped: list[str] = []
    foreign: list[str] = []
    for path in _engine_files(cache_dir):  # not cached_engines(): deleting needs no validation or hashing
        if not _made_by_cnn2gnn(path):
            foreign.append(str(path))
            continue

        def in_use() -> None:
            raise BlockingIOError

        try:
            with exclusive_file_lock(lock_path_for(path), on_wait=in_use):
                path.unlink(missing_ok=True)
                sidecar_path(path).unlink(missing_ok=True)
                # Removed while held: a process that opens the path later makes a fresh lock file, and one
                # blocked on this file's lock finds no engine and builds; at worst an engine is built twice.
                lock_path_for(path).unlink(missing_ok=True)
        except BlockingIOError:
            skipped.append(str(path))
        else:
            removed.append(str(path))
    return {"removed": removed, "skipped_in_use": skipped, "kept_foreign": foreign}
