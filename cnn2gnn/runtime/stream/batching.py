"""The stream muxer: frames from one or several sources' queues, batched for one inference call.

One frame per call gives the lowest latency; a few frames per call raise throughput where a call
has a fixed cost (a GPU launch, ONNX Runtime's per-run overhead), at the price of up to T ms of
waiting. With several sources this is DeepStream's stream-muxer idea: frames of different cameras
share one call. Each source keeps its own bounded queue and the muxer takes round-robin, at most one
frame per source per turn, waiting on none in particular, so a slow or silent camera never delays
the others and a fast one cannot crowd them out. Frames already queued are taken without waiting.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Sequence

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.capture import Frame, FrameQueue


def require_batch_frames(max_frames: int) -> None:
    if max_frames < 1:
        raise Cnn2GnnError(f"--batch must be >= 1 frame, got {max_frames}")


def require_batch_wait(max_wait_ms: float) -> None:
    """Refuse a negative, infinite or NaN --batch-wait-ms (written `not`: NaN fails every comparison)."""
    if not 0 <= max_wait_ms < math.inf:
        raise Cnn2GnnError(f"--batch-wait-ms must be a finite number >= 0, got {max_wait_ms}")


class StreamMuxer:
    """Batches of up to ``max_frames`` from ``queues``, which must share ``condition`` (their lock), so
    that waiting for "a frame from any of them" is one wait."""

    def __init__(self, queues: Sequence[FrameQueue], max_frames: int = 1, max_wait_ms: float = 10.0) -> None:
        require_batch_frames(max_frames)
        require_batch_wait(max_wait_ms)
        conditions = {id(q.condition) for q in queues}
        if len(conditions) != 1:
            raise ValueError("the muxer's queues must share one condition (FrameQueue(..., condition=...))")
        self.queues = list(queues)
        self.max_frames = max_frames
        self.max_wait_s = max_wait_ms / 1e3
        self._condition: threading.Condition = queues[0].condition
        self._active = list(range(len(self.queues)))  # queues still taken from, in round-robin order
        self._turn = 0  # where the next batch starts, so no source is always first

    def drop(self, position: int) -> None:
        """Take nothing more from queue ``position`` (its source stalled or failed)."""
        with self._condition:
            if position in self._active:
                self._active.remove(position)

    @property
    def active(self) -> list[int]:
        with self._condition:
            return list(self._active)

    def _ready(self) -> bool:
        return any(len(self.queues[i]) for i in self._active)

    def _all_exhausted(self) -> bool:
        return all(self.queues[i].exhausted for i in self._active)

    def next_batch(self, timeout_s: float) -> list[Frame] | None:
        """The next batch; ``[]`` when no frame came within ``timeout_s``; None once every active queue's
        producer is done and every frame has been taken. Errors the producers finished with are left
        on the queues (``queue.error``), for the caller to attribute to their source."""
        with self._condition:
            if not self._active:
                return None
            if timeout_s > 0:
                self._condition.wait_for(lambda: self._ready() or self._all_exhausted(), timeout_s)
            batch = self._take(self.max_frames)
            if not batch:
                return None if self._all_exhausted() else []
            deadline = time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_frames and not self._all_exhausted():
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self._condition.wait_for(
                        lambda: self._ready() or self._all_exhausted(), remaining):
                    break
                batch += self._take(self.max_frames - len(batch))
            if self._active:
                self._turn = (self._turn + 1) % len(self._active)
            return batch

    def _take(self, limit: int) -> list[Frame]:
        """Up to ``limit`` queued frames, one per queue per pass, starting at this batch's turn."""
        order = self._active[self._turn % len(self._active):] + self._active[: self._turn % len(self._active)]
        taken: list[Frame] = []
        while len(taken) < limit:
            before = len(taken)
            for position in order:
                if len(taken) >= limit:
                    break
                frame = self.queues[position].get(0)
                if frame is not None:
                    taken.append(frame)
            if len(taken) == before:
                break
        return taken
