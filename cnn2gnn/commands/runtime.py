"""Runtime commands: ``bench`` and ``compare`` (torch-free: only the runtime and numpy/OpenCV data loaders load)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._runtime_backend import (
    ENGINE_CACHE_HELP,
    ENGINE_PRECISION_HELP,
    RUNTIME_BACKEND_HELP,
    THREADS_HELP,
    engine_options,
    load_runtime_backend,
)
from cnn2gnn.commands._shared import CLASS_NAMES_HELP, DATA_HELP, SPLIT_HELP, emit, parse_positive_ints
from cnn2gnn.contracts.errors import Cnn2GnnError

if TYPE_CHECKING:
    import numpy as np


def bench_cmd(
    model: Path = typer.Argument(..., help="An exported .onnx model or a TensorRT .engine / .plan."),
    backend: Optional[str] = typer.Option(None, "--backend", help=RUNTIME_BACKEND_HELP),
    batch_sizes: str = typer.Option("1,8,64", "--batch-sizes", help="Comma-separated batch sizes to time."),
    warmup: int = typer.Option(20, "--warmup", help="Warm-up calls per batch size."),
    warmup_seconds: Optional[float] = typer.Option(
        None, "--warmup-seconds", help="Warm up for this many seconds instead."
    ),
    iterations: int = typer.Option(200, "--iterations", help="Timed calls per batch size."),
    duration: Optional[float] = typer.Option(
        None, "--duration", help="Time each batch size for S seconds instead of --iterations."
    ),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
    engine_cache: Optional[Path] = typer.Option(None, "--engine-cache", help=ENGINE_CACHE_HELP),
    engine_precision: Optional[str] = typer.Option(None, "--engine-precision", help=ENGINE_PRECISION_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Latency (mean / p50 / p95 / p99) and throughput per batch size, trtexec-style, on random input."""
    from cnn2gnn.runtime.bench import benchmark, format_benchmark

    sizes = parse_positive_ints(batch_sizes, "--batch-sizes")
    with load_runtime_backend(model, backend, threads, engine_cache, engine_precision) as loaded:
        result = benchmark(loaded, sizes, warmup=warmup, warmup_seconds=warmup_seconds, iterations=iterations,
                           duration=duration)
    emit(result, json_out, format_benchmark(result))


def _dataset_images(spec: str, split: str, limit: Optional[int],
                    class_names: Optional[Path] = None) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """The first ``limit`` images, labels and class names (``class_names``' when given) of ``split`` from the
    training data loaders (numpy / OpenCV / scikit-learn only: no torch)."""
    from cnn2gnn.toolchain.data import load_dataset

    if limit is not None and limit < 1:
        raise Cnn2GnnError(f"--limit must be >= 1, got {limit}")
    dataset = load_dataset(spec, class_names=class_names)
    part = dataset.split(split)
    n = len(part) if limit is None else min(limit, len(part))
    return part.images[:n], part.labels[:n], list(dataset.class_names)


def compare_cmd(
    model_a: Path = typer.Argument(..., help="First model (.onnx / .engine / .plan)."),
    model_b: Path = typer.Argument(..., help="Second model; may be the same file on another backend."),
    data: str = typer.Option(..., "--data", help=DATA_HELP),
    class_names: Optional[Path] = typer.Option(None, "--class-names", help=CLASS_NAMES_HELP),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    backend_a: Optional[str] = typer.Option(None, "--backend-a", help=RUNTIME_BACKEND_HELP),
    backend_b: Optional[str] = typer.Option(None, "--backend-b", help=RUNTIME_BACKEND_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use the first N images of the split only."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per inference call."),
    engine_cache: Optional[Path] = typer.Option(None, "--engine-cache", help=ENGINE_CACHE_HELP),
    engine_precision: Optional[str] = typer.Option(None, "--engine-precision", help=ENGINE_PRECISION_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run two models (or backends) on the same images: top-1 agreement, |Δlogit|, and each one's accuracy."""
    from cnn2gnn.runtime.compare import compare_backends, format_comparison

    # The --engine-* options shape the engine built for whichever model runs as one (typically ONNX Runtime vs
    # TensorRT of one .onnx); the other model must not be refused for them.
    options_a, options_b = engine_options([(model_a, backend_a), (model_b, backend_b)], engine_cache,
                                          engine_precision, "--backend-a or --backend-b")
    images, labels, names = _dataset_images(data, split, limit, class_names)
    with (load_runtime_backend(model_a, backend_a, None, *options_a) as a,
          load_runtime_backend(model_b, backend_b, None, *options_b) as b):
        result = compare_backends(a, b, images, labels, names, input_order="RGB", batch_size=batch_size)
    result.update(data=data, split=split)
    emit(result, json_out, f"{data} [{split}]: " + format_comparison(result))


def register(app: typer.Typer) -> None:
    app.command("bench", cls=HelpCommand)(bench_cmd)
    app.command("compare", cls=HelpCommand)(compare_cmd)
