"""A trtexec-style latency benchmark for any backend: warm-up, then per batch size latency percentiles
and throughput, measured around ``backend.infer`` (host-to-device copies and back included)."""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.runtime.backends.runner import Runner


def latency_stats(seconds: Sequence[float], batch_size: int) -> dict[str, Any]:
    """Latency percentiles (ms) and throughput (images/s) from per-call wall times in seconds."""
    if len(seconds) == 0:
        raise Cnn2GnnError("no timed iterations: raise --iterations or --duration")
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    mean_ms = float(ms.mean())
    return {
        "batch_size": batch_size,
        "iterations": len(ms),
        "total_s": float(ms.sum() / 1e3),
        "latency_ms": {
            "mean": mean_ms,
            "min": float(ms.min()),
            "p50": float(np.percentile(ms, 50)),
            "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()),
        },
        "per_image_ms": mean_ms / batch_size,
        "throughput_ips": batch_size * 1e3 / mean_ms,
    }


def input_batch(chw: Sequence[int], batch_size: int, inputs: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """``batch_size`` samples: the given preprocessed ``inputs`` repeated as needed, or standard-normal noise."""
    try:
        if inputs is None:
            return np.random.default_rng(seed).standard_normal((batch_size, *chw), dtype=np.float32)
        x = np.asarray(inputs, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(chw) or len(x) == 0:
            raise Cnn2GnnError(f"benchmark inputs must be (N>0, {', '.join(map(str, chw))}), got {tuple(x.shape)}")
        reps = -(-batch_size // len(x))
        return np.ascontiguousarray(np.concatenate([x] * reps)[:batch_size])
    except MemoryError:
        gib = batch_size * math.prod(chw) * 4 / 2**30
        raise Cnn2GnnError(f"a batch of {batch_size} inputs of shape {tuple(chw)} needs {gib:.1f} GiB, more than "
                           "this machine can allocate; time smaller --batch-sizes") from None


def timed_calls(
    backend: Runner,
    batch: np.ndarray,
    iterations: int | None = None,
    duration: float | None = None,
    progress: Any = None,
) -> list[float]:
    """Wall time of each ``backend.infer(batch)``: ``iterations`` calls, or as many as fit in ``duration`` s."""
    if (iterations is None) == (duration is None):
        raise ValueError("give exactly one of iterations and duration")
    times: list[float] = []

    def one_call() -> None:
        start = time.perf_counter()
        backend.infer(batch)
        times.append(time.perf_counter() - start)
        if progress is not None:
            progress.update(1)

    if iterations is not None:
        for _ in range(iterations):
            one_call()
    else:
        deadline = time.perf_counter() + float(duration)  # type: ignore[arg-type]
        while time.perf_counter() < deadline:
            one_call()
    return times


def benchmark(
    backend: Runner,
    batch_sizes: Sequence[int] = (1, 8, 64),
    warmup: int = 20,
    warmup_seconds: float | None = None,
    iterations: int | None = 200,
    duration: float | None = None,
    inputs: np.ndarray | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Benchmark ``backend`` at each batch size. Warm-up is ``warmup`` calls or ``warmup_seconds`` per size;
    timing is ``iterations`` calls or ``duration`` seconds per size. Returns a JSON-ready dict."""
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise Cnn2GnnError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    if duration is not None:
        iterations = None
        if not 0 < duration < math.inf:  # NaN fails this too
            raise Cnn2GnnError(f"--duration must be a finite number of seconds > 0, got {duration}")
    elif iterations is None or iterations < 1:
        raise Cnn2GnnError(f"--iterations must be >= 1, got {iterations}")
    if warmup < 0 or (warmup_seconds is not None and not 0 <= warmup_seconds < math.inf):
        raise Cnn2GnnError(f"warm-up must be >= 0 (and a finite number of seconds), got {warmup} call(s), "
                           f"{warmup_seconds} s")

    meta = backend.metadata
    chw = meta.preprocessing.input_shape
    results = []
    for b in (int(b) for b in batch_sizes):
        batch = input_batch(chw, b, inputs, seed)
        if warmup_seconds is not None:
            timed_calls(backend, batch, duration=warmup_seconds)
        elif warmup:
            timed_calls(backend, batch, iterations=warmup)
        # The bar is updated between calls, outside the timed region.
        with progress_bar(total=iterations, desc=f"batch {b}", unit="it", enabled=progress, leave=False) as bar:
            times = timed_calls(backend, batch, iterations=iterations, duration=duration, progress=bar)
        results.append(latency_stats(times, b))
    return {
        "model": str(backend.path),
        "backend": backend.name,
        "providers": getattr(backend, "providers", None),
        # The CPU threads of a backend that takes --threads (None: its own default); absent for one that does not.
        **({"threads": backend.threads} if hasattr(backend, "threads") else {}),
        "kind": meta.kind,
        "precision": meta.precision,
        "input_shape": list(chw),
        "max_batch": backend.max_batch,
        "input": "random" if inputs is None else "given",
        "warmup": {"iterations": None if warmup_seconds is not None else warmup, "seconds": warmup_seconds},
        "results": results,
    }


def format_benchmark(result: dict[str, Any]) -> str:
    """A fixed-width table, one row per batch size."""
    head = f"{result['model']}  [{result['backend']}"
    if result.get("providers"):
        head += f": {', '.join(result['providers'])}"
    if "threads" in result:
        head += f"; threads {result['threads'] or 'default (one per physical core)'}"
    head += f"; {result['kind']}, {result['precision']}, input {result['input']}]"
    cols = ("batch", "iters", "mean ms", "p50 ms", "p95 ms", "p99 ms", "ms/image", "images/s")
    lines = [head, "  ".join(f"{c:>9}" for c in cols)]
    for r in result["results"]:
        lat = r["latency_ms"]
        values = (
            f"{r['batch_size']}",
            f"{r['iterations']}",
            f"{lat['mean']:.3f}",
            f"{lat['p50']:.3f}",
            f"{lat['p95']:.3f}",
            f"{lat['p99']:.3f}",
            f"{r['per_image_ms']:.4f}",
            f"{r['throughput_ips']:.1f}",
        )
        lines.append("  ".join(f"{v:>9}" for v in values))
    return "\n".join(lines)
