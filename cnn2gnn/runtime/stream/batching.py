"""Micro-batching: up to N frames per inference call, waiting at most T ms for the batch to fill.

One frame per call gives the lowest latency; a few frames per call raise throughput where a call
has a fixed cost (a GPU launch, ONNX Runtime's per-run overhead), at the price of up to T ms of
waiting. Frames already queued are always taken without waiting.
"""

from __future__ import annotations

import time

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.capture import Frame, FrameQueue


class MicroBatcher:
    def __init__(self, queue: FrameQueue, max_frames: int = 1, max_wait_ms: float = 10.0) -> None:
        if max_frames < 1:
            raise Cnn2GnnError(f"--batch must be >= 1 frame, got {max_frames}")
        if max_wait_ms < 0:
            raise Cnn2GnnError(f"--batch-wait-ms must be >= 0, got {max_wait_ms}")
        self.queue = queue
        self.max_frames = max_frames
        self.max_wait_s = max_wait_ms / 1e3

    def next_batch(self, timeout_s: float) -> list[Frame] | None:
        """The next batch; ``[]`` when no frame came within ``timeout_s``; None once the source is done.

        A source that ended with an error raises it here, after its last queued frame was handed out.
        """
        first = self.queue.get(timeout_s)
        if first is None:
            if self.queue.exhausted:
                if self.queue.error is not None:
                    raise self.queue.error
                return None
            return []
        batch = [first]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_frames:
            frame = self.queue.get(max(0.0, deadline - time.perf_counter()))
            if frame is None:
                break
            batch.append(frame)
        return batch
