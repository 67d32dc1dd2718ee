"""What a stream run measures: throughput, latency percentiles, drops and where the time goes.

Memory stays constant however long a camera runs: run-wide percentiles come from a fixed
log-spaced histogram (1 % bins), the status line from a window of the most recent frames.
"""

from __future__ import annotations

import collections
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.stream.capture import Frame

# capture runs in its own thread, in parallel with the rest; queue is the wait between capture and
# the start of the frame's batch (micro-batch filling included); the last three are the inference loop.
STAGES = ("capture", "queue", "preprocess", "inference", "output")
LOOP_STAGES = ("preprocess", "inference", "output")


class LatencyHistogram:
    """Latency percentiles over any number of samples, within 1 %, in a fixed 2 k-bin array."""

    _LOW_MS = 1e-3
    _RATIO = 1.01
    _BINS = int(math.ceil(math.log(1e6 / _LOW_MS) / math.log(_RATIO)))  # 1 us .. 1000 s

    def __init__(self) -> None:
        self.counts = np.zeros(self._BINS, dtype=np.int64)
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def add(self, ms: float) -> None:
        ratio = max(ms, self._LOW_MS) / self._LOW_MS
        self.counts[min(int(math.log(ratio) / math.log(self._RATIO)), self._BINS - 1)] += 1
        self.count += 1
        self.total += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = q / 100 * (self.count - 1)
        index = int(np.searchsorted(np.cumsum(self.counts), rank, side="right"))
        centre = self._LOW_MS * self._RATIO ** (index + 0.5)
        return float(min(max(centre, self.min), self.max))

    def summary(self) -> dict[str, float | None]:
        return {
            "mean": self.total / self.count if self.count else None,
            "min": self.min if self.count else None,
            "p50": self.percentile(50),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
            "max": self.max if self.count else None,
        }


class TimedRunner(Runner):
    """Wraps a backend to time each ``infer`` call, so a Classifier's preprocessing and inference
    can be told apart without re-implementing either."""

    def __init__(self, backend: Runner) -> None:
        self.inner = backend
        self.name = backend.name
        self.path = backend.path
        self.metadata = backend.metadata
        self.last_call: tuple[float, float] = (0.0, 0.0)  # perf_counter at start and end

    def infer(self, batch: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self.inner.infer(batch)
        finally:
            self.last_call = (start, time.perf_counter())

    @property
    def output_names(self) -> list[str]:
        return self.inner.output_names

    def infer_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        try:
            return self.inner.infer_outputs(batch)
        finally:
            self.last_call = (start, time.perf_counter())

    @property
    def max_batch(self) -> int | None:
        return self.inner.max_batch

    def close(self) -> None:
        self.inner.close()


def process_memory_mb(status: Path = Path("/proc/self/status")) -> dict[str, float] | None:
    """Resident and peak resident memory of this process (Linux /proc; None elsewhere)."""
    try:
        text = status.read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values["rss" if key == "VmRSS" else "peak_rss"] = int(rest.split()[0]) / 1024  # kB -> MiB
    return values or None


class StreamStats:
    def __init__(self, window: int = 300) -> None:
        self.started = time.perf_counter()
        self.processed = 0
        self.batches = 0
        self.latency = LatencyHistogram()
        self.stage_s = dict.fromkeys(STAGES, 0.0)
        self._recent: collections.deque[tuple[float, float]] = collections.deque(maxlen=window)  # (done, ms)

    def record_batch(self, frames: Sequence[Frame], batch_start: float, preprocess_s: float, inference_s: float,
                     output_s: float) -> None:
        for frame in frames:
            self.stage_s["capture"] += frame.capture_s
            self.stage_s["queue"] += batch_start - frame.captured_at
        self.stage_s["preprocess"] += preprocess_s
        self.stage_s["inference"] += inference_s
        self.stage_s["output"] += output_s
        self.batches += 1

    def record_frame(self, latency_ms: float, done_at: float) -> None:
        self.processed += 1
        self.latency.add(latency_ms)
        self._recent.append((done_at, latency_ms))

    def recent_fps(self) -> float | None:
        """Frames per second over the last ``window`` frames."""
        if len(self._recent) < 2:
            return None
        span = self._recent[-1][0] - self._recent[0][0]
        return (len(self._recent) - 1) / span if span > 0 else None

    def status_line(self, dropped: int, queue_depth: int, queue_size: int) -> str:
        """fps and latency percentiles of the last ``window`` frames, drops and queue depth so far."""
        fps = self.recent_fps()
        ms = np.fromiter((m for _, m in self._recent), dtype=np.float64)
        p50, p95 = (f"{np.percentile(ms, q):.1f}" for q in (50, 95)) if len(ms) else ("-", "-")
        return (f"{self.processed} frames | {'-' if fps is None else f'{fps:.1f}'} fps | latency p50 {p50} ms "
                f"p95 {p95} ms | dropped {dropped} | queue {queue_depth}/{queue_size}")

    def summary(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        per_frame = {stage: (1e3 * s / self.processed if self.processed else None) for stage, s in self.stage_s.items()}
        loop_total = sum(self.stage_s[s] for s in LOOP_STAGES)
        return {
            "elapsed_s": elapsed,
            "fps": self.processed / elapsed if elapsed > 0 else None,
            "batches": self.batches,
            "mean_batch": self.processed / self.batches if self.batches else None,
            "latency_ms": self.latency.summary(),
            "stage_ms_per_frame": per_frame,
            "loop_share": {s: (self.stage_s[s] / loop_total if loop_total else None) for s in LOOP_STAGES},
        }
