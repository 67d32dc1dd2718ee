"""ONNX Runtime CPU latency of many models in one run: fixed threads, warm-up, interleaved rounds.

Every model is warmed up, then timed in rounds (model A, B, C, A, B, C, ...) so that drift in the
machine's speed (other processes on a shared machine) hits every model alike.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def measure_latency(models: dict[str, Path], inputs: np.ndarray, threads: int, warmup: int,
                    iterations: dict[int, int], rounds: int, progress: bool = True) -> dict[str, dict[str, Any]]:
    """``{name: {"<batch>": latency_stats}}`` for each batch size in ``iterations`` (batch -> timed calls)."""
    from tqdm import tqdm

    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.runtime.bench import input_batch, latency_stats, timed_calls

    backends = {name: OnnxRuntimeRunner(path, providers=["CPUExecutionProvider"], threads=threads)
                for name, path in models.items()}
    results: dict[str, dict[str, Any]] = {name: {} for name in models}
    try:
        for batch_size, count in iterations.items():
            batches = {name: input_batch(b.metadata.preprocessing.input_shape, batch_size, inputs)
                       for name, b in backends.items()}
            for name, backend in backends.items():
                timed_calls(backend, batches[name], iterations=warmup)
            per_round = max(1, count // rounds)
            times: dict[str, list[float]] = {name: [] for name in backends}
            with tqdm(total=per_round * rounds * len(backends), desc=f"latency batch {batch_size}", unit="it",
                      file=sys.stderr, disable=not progress, leave=False) as bar:
                for _ in range(rounds):
                    for name, backend in backends.items():
                        times[name] += timed_calls(backend, batches[name], iterations=per_round, progress=bar)
            for name in backends:
                results[name][str(batch_size)] = latency_stats(times[name], batch_size)
    finally:
        for backend in backends.values():
            backend.close()
    return results


def summary(stats: dict[str, Any], batch_sizes: Sequence[int] = (1, 64)) -> dict[str, float]:
    """The numbers the tables show: p50/p95 at batch 1, throughput at batch 64."""
    out: dict[str, float] = {}
    if "1" in stats and 1 in batch_sizes:
        out["p50_ms_b1"] = stats["1"]["latency_ms"]["p50"]
        out["p95_ms_b1"] = stats["1"]["latency_ms"]["p95"]
    if "64" in stats and 64 in batch_sizes:
        out["p50_ms_b64"] = stats["64"]["latency_ms"]["p50"]
        out["throughput_ips_b64"] = stats["64"]["throughput_ips"]
    return out
