"""Engine file -> deserialized TensorRT engine, refused with reasons when it cannot run here.

An engine only loads on the TensorRT version and GPU it was built for (unless built portable), so the
engine's sidecar is checked against the running setup first and a mismatch is refused with a list
of what differs, instead of TensorRT's bare "deserialization failed". TensorRT is imported when an
engine is loaded, never at module import.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.engine_sidecar import compatibility_problems, read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt


def import_tensorrt() -> Any:
    """The TensorRT module, or a Cnn2GnnError saying how to install it (type stubs alone do not count)."""
    try:
        require_tensorrt()
    except Cnn2GnnError as exc:
        raise Cnn2GnnError(
            f"the tensorrt backend cannot run: {exc}. Or run the .onnx model with --backend onnxruntime"
        ) from exc
    import tensorrt

    return tensorrt


def engine_compatibility_problems(
    engine_path: str | Path, trt_version: str, gpu_name: str, compute_capability: tuple[int, int]
) -> list[str]:
    """What stops the engine at ``engine_path`` from loading here, according to its build sidecar."""
    return compatibility_problems(read_engine_sidecar(engine_path), trt_version, gpu_name, compute_capability)


def refuse_incompatible_engine(
    engine_path: str | Path, trt_version: str, gpu_name: str, compute_capability: tuple[int, int]
) -> None:
    """Raise a Cnn2GnnError listing every mismatch between the engine's build and the running setup."""
    problems = engine_compatibility_problems(engine_path, trt_version, gpu_name, compute_capability)
    if problems:
        listed = "\n  - ".join(problems)
        raise Cnn2GnnError(
            f"{engine_path} cannot run here (TensorRT {trt_version}, {gpu_name}, compute capability "
            f"{compute_capability[0]}.{compute_capability[1]}):\n  - {listed}\n"
            "Or run the engine's ONNX model with --backend onnxruntime."
        )


def _capturing_logger(trt: Any) -> Any:
    """A TensorRT logger that prints warnings and errors and keeps the errors for our own messages.

    Created by a factory because subclassing ``trt.ILogger`` needs TensorRT at class-definition time.
    """
    shown = {trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR, trt.ILogger.Severity.WARNING}
    errors = {trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR}

    class CapturingLogger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity in errors:
                self.errors.append(msg)
            if severity in shown:
                print(f"[TensorRT] {msg}", file=sys.stderr)

    return CapturingLogger()


@dataclass
class LoadedEngine:
    """A deserialized engine with the runtime that owns it and the logger whose errors it reported."""

    runtime: Any
    engine: Any
    logger: Any


def _deserialize_failure(path: Path, logger: Any, running: tuple[str, str, tuple[int, int]]) -> str:
    built = read_engine_sidecar(path)
    log = "\n  ".join(logger.errors) or "(TensorRT logged no error)"
    cause = "The file may be corrupt or not a TensorRT engine"
    if built.engine_sha256 and sha256_file(path) != built.engine_sha256:
        cause = "The engine file is not the one its sidecar describes (sha256 differs): replaced or corrupt"
    return (
        f"TensorRT {running[0]} could not deserialize {path} on {running[1]}, although its sidecar "
        f"(built with TensorRT {built.tensorrt_version} for {built.gpu_name}, compute capability "
        f"{built.compute_capability}) "
        f"matches this setup. TensorRT said:\n  {log}\n{cause}: rebuild it with `cnn2gnn build`."
    )


def engine_from_file(trt: Any, path: Path, gpu_name: str, compute_capability: tuple[int, int]) -> LoadedEngine:
    """Check ``path``'s sidecar against this TensorRT and GPU, then deserialize it."""
    running = (str(trt.__version__), gpu_name, compute_capability)
    refuse_incompatible_engine(path, *running)
    logger = _capturing_logger(trt)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise Cnn2GnnError(_deserialize_failure(path, logger, running))
    return LoadedEngine(runtime, engine, logger)
