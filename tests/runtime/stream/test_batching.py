import math
import threading
import time

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.batching import StreamMuxer
from cnn2gnn.runtime.stream.capture import Frame, FrameQueue


def frame(i: int, source_id: int = 0) -> Frame:
    return Frame(i, np.zeros((2, 2), np.uint8), "test", time.time(), time.perf_counter(), 0.0, source_id)


def test_queued_frames_are_batched_up_to_n_without_waiting():
    q = FrameQueue(10, "block")
    for i in range(7):
        q.put(frame(i))
    q.finish()
    muxer = StreamMuxer([q], max_frames=3, max_wait_ms=1000)
    start = time.perf_counter()
    batches = [[f.index for f in muxer.next_batch(0.1)] for _ in range(3)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert time.perf_counter() - start < 0.5  # a finished source does not make the last batch wait
    assert muxer.next_batch(0.1) is None


def test_a_batch_waits_at_most_t_ms_for_more_frames():
    q = FrameQueue(10, "block")
    q.put(frame(0))
    threading.Timer(0.05, lambda: q.put(frame(1))).start()
    muxer = StreamMuxer([q], max_frames=4, max_wait_ms=150)
    start = time.perf_counter()
    batch = muxer.next_batch(0.1)
    waited = time.perf_counter() - start
    assert [f.index for f in batch] == [0, 1]
    assert 0.14 < waited < 0.5


def test_no_frame_gives_an_empty_batch_and_an_error_is_left_for_the_caller_after_the_frames():
    q = FrameQueue(4, "block")
    muxer = StreamMuxer([q], max_frames=2, max_wait_ms=0)
    assert muxer.next_batch(0.01) == []
    q.put(frame(0))
    q.finish(RuntimeError("feed broke"))
    assert [f.index for f in muxer.next_batch(0.01)] == [0]
    assert muxer.next_batch(0.01) is None and q.exhausted and str(q.error) == "feed broke"


def queues(n: int, size: int = 10) -> list[FrameQueue]:
    shared = threading.Condition()
    return [FrameQueue(size, "drop-oldest", shared) for _ in range(n)]


def test_several_sources_share_batches_round_robin_so_a_busy_one_cannot_crowd_out_the_others():
    busy, quiet = queues(2)
    for i in range(8):
        busy.put(frame(i, 0))
    quiet.put(frame(0, 1))
    muxer = StreamMuxer([busy, quiet], max_frames=3, max_wait_ms=0)
    first = muxer.next_batch(0.1)
    assert sorted(f.source_id for f in first) == [0, 0, 1]  # the quiet source's frame rides in the first batch
    assert [f.index for f in first if f.source_id == 0] == [0, 1]


def test_a_silent_source_never_delays_the_others():
    live, silent = queues(2)
    muxer = StreamMuxer([live, silent], max_frames=2, max_wait_ms=0)
    threading.Timer(0.05, lambda: live.put(frame(0, 0))).start()
    start = time.perf_counter()
    batch = muxer.next_batch(2.0)  # one wait for a frame from either source, not one per source
    assert [f.source_id for f in batch] == [0] and time.perf_counter() - start < 0.5


def test_a_dropped_source_is_not_taken_from_and_the_others_decide_the_end():
    a, b = queues(2)
    a.put(frame(0, 0))
    b.put(frame(0, 1))
    a.finish()
    muxer = StreamMuxer([a, b], max_frames=4, max_wait_ms=0)
    muxer.drop(1)  # e.g. its camera stalled: its queued frame is abandoned
    assert [f.source_id for f in muxer.next_batch(0.1)] == [0]
    assert muxer.next_batch(0.1) is None and muxer.active == [0]


def test_settings_are_validated():
    with pytest.raises(Cnn2GnnError, match="--batch"):
        StreamMuxer([FrameQueue(1, "block")], max_frames=0)
    for wait in (-1, math.nan, math.inf):
        with pytest.raises(Cnn2GnnError, match="--batch-wait-ms"):
            StreamMuxer([FrameQueue(1, "block")], max_wait_ms=wait)
    with pytest.raises(ValueError, match="share one condition"):
        StreamMuxer([FrameQueue(1, "block"), FrameQueue(1, "block")])
