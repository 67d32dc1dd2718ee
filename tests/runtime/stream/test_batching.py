import threading
import time

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.batching import MicroBatcher
from cnn2gnn.runtime.stream.capture import Frame, FrameQueue


def frame(i: int) -> Frame:
    return Frame(i, np.zeros((2, 2), np.uint8), "test", time.time(), time.perf_counter(), 0.0)


def test_queued_frames_are_batched_up_to_n_without_waiting():
    q = FrameQueue(10, "block")
    for i in range(7):
        q.put(frame(i))
    q.finish()
    batcher = MicroBatcher(q, max_frames=3, max_wait_ms=1000)
    start = time.perf_counter()
    batches = [[f.index for f in batcher.next_batch(0.1)] for _ in range(3)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert time.perf_counter() - start < 0.5  # a finished source does not make the last batch wait
    assert batcher.next_batch(0.1) is None


def test_a_batch_waits_at_most_t_ms_for_more_frames():
    q = FrameQueue(10, "block")
    q.put(frame(0))
    threading.Timer(0.05, lambda: q.put(frame(1))).start()
    batcher = MicroBatcher(q, max_frames=4, max_wait_ms=150)
    start = time.perf_counter()
    batch = batcher.next_batch(0.1)
    waited = time.perf_counter() - start
    assert [f.index for f in batch] == [0, 1]
    assert 0.14 < waited < 0.5


def test_no_frame_gives_an_empty_batch_and_an_error_comes_after_the_frames():
    q = FrameQueue(4, "block")
    batcher = MicroBatcher(q, max_frames=2, max_wait_ms=0)
    assert batcher.next_batch(0.01) == []
    q.put(frame(0))
    q.finish(RuntimeError("feed broke"))
    assert [f.index for f in batcher.next_batch(0.01)] == [0]
    with pytest.raises(RuntimeError, match="feed broke"):
        batcher.next_batch(0.01)


def test_settings_are_validated():
    with pytest.raises(Cnn2GnnError, match="--batch"):
        MicroBatcher(FrameQueue(1, "block"), max_frames=0)
    with pytest.raises(Cnn2GnnError, match="--batch-wait-ms"):
        MicroBatcher(FrameQueue(1, "block"), max_wait_ms=-1)
