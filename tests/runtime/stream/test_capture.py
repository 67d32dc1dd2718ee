import math
import threading
import time

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.capture import CaptureThread, Frame, FrameQueue, resolve_drop_policy
from cnn2gnn.runtime.stream.exit_codes import SourceLostError, SourceOpenError
from cnn2gnn.runtime.stream.sources.base import FrameSource
from cnn2gnn.runtime.stream.sources.synthetic import SyntheticSource


def frame(i: int) -> Frame:
    return Frame(i, np.zeros((2, 2), np.uint8), "test", time.time(), time.perf_counter(), 0.0)


def drain(queue: FrameQueue) -> list[int]:
    out = []
    while (f := queue.get(0)) is not None:
        out.append(f.index)
    return out


def test_drop_oldest_keeps_the_newest_frames_and_counts_the_rest():
    q = FrameQueue(3, "drop-oldest")
    for i in range(10):
        assert q.put(frame(i))
        assert len(q) <= 3
    assert (q.dropped, q.high_water) == (7, 3)
    assert drain(q) == [7, 8, 9]


def test_drop_newest_keeps_the_queued_frames():
    q = FrameQueue(3, "drop-newest")
    for i in range(10):
        q.put(frame(i))
    assert (q.dropped, q.high_water) == (7, 3)
    assert drain(q) == [0, 1, 2]


def test_block_makes_the_producer_wait_and_loses_nothing():
    q = FrameQueue(2, "block")
    produced = threading.Thread(target=lambda: [q.put(frame(i)) for i in range(20)] and q.finish())
    produced.start()
    got = []
    while not q.exhausted:
        f = q.get(0.5)
        if f is not None:
            got.append(f.index)
        time.sleep(0.001)
    produced.join(2)
    assert got == list(range(20)) and q.dropped == 0 and q.high_water == 2


def test_closing_releases_a_blocked_producer():
    q = FrameQueue(1, "block")
    q.put(frame(0))
    result = []
    t = threading.Thread(target=lambda: result.append(q.put(frame(1))))
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(2)
    assert result == [False]


def test_policy_resolution_and_validation():
    assert resolve_drop_policy("auto", live=True) == "drop-oldest"
    assert resolve_drop_policy("auto", live=False) == "block"
    assert resolve_drop_policy("drop-newest", live=False) == "drop-newest"
    with pytest.raises(Cnn2GnnError, match="drop-policy"):
        resolve_drop_policy("latest", live=True)
    with pytest.raises(Cnn2GnnError, match="--queue"):
        FrameQueue(0, "block")


class FlakyCamera(FrameSource):
    """A live source whose feed drops after 5 frames and whose first reopen fails: a camera being replugged."""

    description = "flaky"
    live = True

    def __init__(self) -> None:
        self.opens = 0
        self.count = 0
        self.delivered_since_open = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens == 2:
            raise SourceOpenError("not back yet")
        self.delivered_since_open = 0

    def read(self):
        if self.count >= 10:
            self.ended = True
            return None
        if self.opens == 1 and self.delivered_since_open == 5:
            return None
        self.count += 1
        self.delivered_since_open += 1
        return np.full((4, 4), self.count, np.uint8), self.description


def test_a_lost_live_source_is_reopened_with_back_off():
    source, q, logs = FlakyCamera(), FrameQueue(20, "block"), []
    capture = CaptureThread(source, q, reconnect_s=5.0, log=logs.append)
    start = time.perf_counter()
    capture.start()
    capture.wait_open()
    got = []
    while not q.exhausted and time.perf_counter() - start < 5:
        f = q.get(0.1)
        if f is not None:
            got.append(int(f.image[0, 0]))
    capture.stop()
    assert got == list(range(1, 11)) and q.error is None
    assert capture.reconnects == 1 and source.opens == 3
    # Back-off: 0.5 s before the failed attempt, 1 s before the successful one.
    assert 1.4 < time.perf_counter() - start < 4
    assert any("reconnect attempt 2 in 1.0 s" in line for line in logs)


def test_giving_up_on_a_lost_source_is_reported_after_the_frames_it_gave():
    q = FrameQueue(50, "drop-oldest")
    capture = CaptureThread(SyntheticSource(8, 8, fps=0, lose_after=7), q, reconnect_s=0.0)
    capture.start()
    capture.wait_open()
    deadline = time.perf_counter() + 3
    while q.error is None and time.perf_counter() < deadline:
        time.sleep(0.01)
    capture.stop()
    assert len(drain(q)) == 7 and q.exhausted
    assert isinstance(q.error, SourceLostError) and "after 7 frames" in str(q.error)


def test_the_watchdog_reports_a_read_that_hangs():
    q = FrameQueue(50, "drop-oldest")
    capture = CaptureThread(SyntheticSource(8, 8, fps=0, stall_after=3), q, stall_timeout_s=0.2)
    capture.start()
    capture.wait_open()
    time.sleep(0.05)
    assert capture.stalled() is None
    time.sleep(0.3)
    assert "stalled: no frame for" in capture.stalled()
    capture.stop()  # interrupts the synthetic hang, so the thread ends
    assert not capture._thread.is_alive()


@pytest.mark.parametrize("timeouts", [{"reconnect_s": -1}, {"reconnect_s": math.nan}, {"stall_timeout_s": math.nan}])
def test_reconnect_and_stall_timeouts_are_validated(timeouts):
    with pytest.raises(Cnn2GnnError, match=r"--(reconnect|stall-timeout) must be >= 0 seconds"):
        CaptureThread(SyntheticSource(8, 8), FrameQueue(2, "drop-oldest"), **timeouts)


def test_a_source_that_never_delivers_fails_the_start():
    class Silent(FrameSource):
        description, live = "silent", True

        def open(self) -> None:
            time.sleep(3)

        def read(self):
            return None

    capture = CaptureThread(Silent(), FrameQueue(2, "drop-oldest"), open_timeout_s=0.2)
    start = time.perf_counter()
    with pytest.raises(SourceOpenError, match="no frame within 0.2 s"):
        capture.start()
        capture.wait_open()
    assert time.perf_counter() - start < 2


def _avi(path, frames: int):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def _read_file(path) -> tuple[int, list[str]]:
    from cnn2gnn.runtime.stream.sources.registry import source_from_spec

    q, logs = FrameQueue(200, "block"), []
    capture = CaptureThread(source_from_spec(str(path)), q, log=logs.append)
    capture.start()
    capture.wait_open()
    frames = 0
    while not q.exhausted:
        frames += q.get(0.5) is not None
    capture.stop()
    return frames, logs


def test_a_truncated_video_file_is_reported_with_the_frames_it_gave(tmp_path):
    # an AVI's header announces its frame count; cut in half, FFmpeg decodes the first part and stops
    whole = _avi(tmp_path / "whole.avi", 60)
    data = whole.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    frames, logs = _read_file(cut)
    assert 0 < frames < 54
    assert [line for line in logs if "truncated" in line] == [
        f"{cut} ended after {frames} of the 60 frames its header announces: the file is probably truncated or "
        "damaged (the frames after that point were not classified)"]
    frames, logs = _read_file(whole)
    assert frames == 60 and not logs
