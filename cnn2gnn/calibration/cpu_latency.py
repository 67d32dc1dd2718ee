"""FP32 vs INT8 latency on ONNX Runtime's CPU provider, measured in one run on the same inputs.

Per batch size both models are warmed up, then timed in interleaved rounds (FP32, INT8, FP32, ...)
so that drift in the machine's speed (other load, throttling) hits both alike. Whatever the numbers
say is reported: on many CPUs a small Q/DQ model is NOT faster, because quantising and dequantising
activations costs more than the INT8 GEMMs save.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.progress import progress_bar

LATENCY_BATCH_SIZES = (1, 64)
ROUNDS = 5
# Run-to-run noise of p50 on a shared CPU is a few percent: smaller differences are not called a speed-up.
NOISE_FRACTION = 0.05


def speed_verdict(speedup: float) -> str:
    if speedup >= 1 + NOISE_FRACTION:
        return "int8 faster"
    if speedup <= 1 - NOISE_FRACTION:
        return "int8 slower"
    return f"no clear difference (within {100 * NOISE_FRACTION:.0f}%)"


def compare_cpu_latency(
    fp32_model: Path,
    int8_model: Path,
    inputs: np.ndarray,
    batch_sizes: Sequence[int] = LATENCY_BATCH_SIZES,
    warmup: int = 10,
    iterations: int = 100,
    progress: bool = True,
) -> dict[str, Any]:
    """p50 (and p95) latency in ms of both models per batch size, and INT8's speed-up (>1: INT8 is faster)."""
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.runtime.bench import input_batch, latency_stats, timed_calls

    rounds = max(1, min(ROUNDS, iterations))
    per_round = max(1, iterations // rounds)
    rows = []
    with OnnxRuntimeRunner(fp32_model, providers=["CPUExecutionProvider"]) as fp32, \
            OnnxRuntimeRunner(int8_model, providers=["CPUExecutionProvider"]) as int8:
        models = {"fp32": fp32, "int8": int8}
        for b in batch_sizes:
            batch = input_batch(fp32.metadata.preprocessing.input_shape, int(b), inputs)
            for backend in models.values():
                timed_calls(backend, batch, iterations=warmup)
            times: dict[str, list[float]] = {name: [] for name in models}
            with progress_bar(total=2 * rounds * per_round, desc=f"latency batch {b}", unit="it", enabled=progress,
                      leave=False) as bar:
                for _ in range(rounds):
                    for name, backend in models.items():
                        times[name] += timed_calls(backend, batch, iterations=per_round, progress=bar)
            stats = {name: latency_stats(t, int(b))["latency_ms"] for name, t in times.items()}
            fp32_p50, int8_p50 = stats["fp32"]["p50"], stats["int8"]["p50"]
            speedup = fp32_p50 / int8_p50
            rows.append({
                "batch_size": int(b),
                "fp32_p50_ms": fp32_p50,
                "int8_p50_ms": int8_p50,
                "fp32_p95_ms": stats["fp32"]["p95"],
                "int8_p95_ms": stats["int8"]["p95"],
                "int8_speedup": speedup,
                "int8_faster": bool(int8_p50 < fp32_p50),
                "verdict": speed_verdict(speedup),
            })
    return {
        "provider": "CPUExecutionProvider",
        "cpu_count": os.cpu_count(),
        "warmup": warmup,
        "iterations": rounds * per_round,
        "rounds": rounds,
        "input": "the report's evaluation images, repeated to fill the batch",
        "results": rows,
    }
