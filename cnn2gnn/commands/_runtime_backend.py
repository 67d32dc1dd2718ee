"""The ``--backend`` / ``--threads`` / ``--engine-*`` options of the torch-free runtime commands (``bench``,
``compare``, ``run``, and ``evaluate`` of an .onnx or engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.thread_count import threads_from_env
from cnn2gnn.runtime.backends.registry import backend_for_path, backend_help, backend_option_help, load_backend

# Generated from the backend registry: a registered backend (or option) shows up here by itself.
RUNTIME_BACKEND_HELP = backend_help()
THREADS_HELP = backend_option_help("threads")
# The backend that runs engines, which it can build from an .onnx model on first use.
ENGINE_BACKEND = "tensorrt"
ENGINE_CACHE_HELP = (
    f"--backend {ENGINE_BACKEND} with an .onnx model builds its engine on first use and reuses it while the model, "
    "TensorRT and GPU stay the same: the folder to cache it in (default: the model's folder)."
)
ENGINE_PRECISION_HELP = (
    f"fp32 | fp16: the engine built from an FP32 .onnx for --backend {ENGINE_BACKEND} (default fp32). Q/DQ (INT8) "
    "and FP16 models are built at their own precision."
)


def builds_engine(model: Path, backend: Optional[str]) -> bool:
    """Whether ``model`` on ``backend`` is run as an engine built from it, which the ``--engine-*`` options shape."""
    return backend == ENGINE_BACKEND and model.suffix.lower() == ".onnx"


def engine_options(runs: list[tuple[Path, Optional[str]]], engine_cache: Optional[Path],
                   engine_precision: Optional[str], backend_option: str = "--backend"
                   ) -> list[tuple[Optional[Path], Optional[str]]]:
    """The ``--engine-cache`` / ``--engine-precision`` of each (model, backend) in ``runs``: given to those run as an
    engine built from an .onnx, None for the others; refused, naming ``backend_option``, when none is."""
    builds = [builds_engine(model, backend) for model, backend in runs]
    given = [name for name, value in (("--engine-cache", engine_cache), ("--engine-precision", engine_precision))
             if value is not None]
    if given and not any(builds):
        raise Cnn2GnnError(
            f"{' and '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to an .onnx model run with {backend_option} "
            f"{ENGINE_BACKEND} only; drop {'them' if len(given) > 1 else 'it'} or add {backend_option} {ENGINE_BACKEND}"
        )
    return [(engine_cache, engine_precision) if built else (None, None) for built in builds]


def runtime_model(
    model: Path, backend: Optional[str], engine_cache: Optional[Path] = None, engine_precision: Optional[str] = None
) -> Path:
    """``model``, or, for ``--backend tensorrt`` with an .onnx model, its cached engine (built on first use)."""
    ((cache, precision),) = engine_options([(model, backend)], engine_cache, engine_precision)
    if builds_engine(model, backend):
        from cnn2gnn.engine.engine_cache import engine_for_onnx

        return engine_for_onnx(model, precision=precision, cache_dir=cache).path
    return model


def load_runtime_backend(
    model: Path,
    backend: Optional[str],
    threads: Optional[int] = None,
    engine_cache: Optional[Path] = None,
    engine_precision: Optional[str] = None,
) -> Any:
    """Open ``model`` on its backend; the registry refuses ``--threads`` for a backend that does not take it.
    Without ``--threads``, a backend that takes it gets ``OMP_NUM_THREADS`` when set (ONNX Runtime itself
    ignores that variable)."""
    path = runtime_model(model, backend, engine_cache, engine_precision)
    if threads is None and "threads" in backend_for_path(path, backend).options:
        threads = threads_from_env()
    return load_backend(path, backend, threads=threads)
