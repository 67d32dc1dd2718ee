"""Capture in its own thread, into a bounded queue with a drop policy.

Decoding (OpenCV releases the GIL) overlaps with preprocessing and inference. For a live source the
queue keeps latency bounded: when inference falls behind, frames are dropped (and counted) instead of
piling up; for files and image folders the reader waits instead, so every frame is processed in order.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.exit_codes import SourceLostError, SourceOpenError
from cnn2gnn.runtime.stream.sources.base import FrameSource

DROP_POLICIES = ("auto", "drop-oldest", "drop-newest", "block")
_MAX_BACKOFF_S = 8.0


@dataclass
class Frame:
    index: int  # position in the source, dropped frames included: gaps in the output are the drops
    image: np.ndarray  # uint8 BGR or gray, as OpenCV delivers
    origin: str  # the file for image folders, else the source
    timestamp: float  # wall clock (time.time()) when it was read
    captured_at: float  # time.perf_counter() at the same moment: latencies are measured from here
    capture_s: float  # how long the read took
    source_id: int = 0  # which of the run's sources (their order on the command line)


def resolve_drop_policy(policy: str, live: bool) -> str:
    """``auto``: live sources drop their oldest frames (fresh results, bounded latency); files block (every frame)."""
    if policy not in DROP_POLICIES:
        raise Cnn2GnnError(f"--drop-policy {policy!r} unknown; use one of {DROP_POLICIES}")
    if policy == "auto":
        return "drop-oldest" if live else "block"
    return policy


class FrameQueue:
    """A bounded FIFO between the capture thread and the inference loop.

    When full, ``drop-oldest`` discards the oldest queued frame for the new one, ``drop-newest`` discards
    the new one, and ``block`` makes the producer wait. ``high_water`` records the deepest it ever got.
    Queues of one run share ``condition``, so the muxer can wait for a frame from any of them.
    """

    def __init__(self, maxsize: int, policy: str, condition: threading.Condition | None = None) -> None:
        if maxsize < 1:
            raise Cnn2GnnError(f"--queue must be >= 1 frame, got {maxsize}")
        if policy not in DROP_POLICIES[1:]:
            raise Cnn2GnnError(f"queue policy {policy!r} unknown; use one of {DROP_POLICIES[1:]}")
        self.maxsize = maxsize
        self.policy = policy
        self.dropped = 0
        self.high_water = 0
        self.error: BaseException | None = None
        self._items: collections.deque[Frame] = collections.deque()
        self.condition = condition or threading.Condition()
        self._cond = self.condition
        self._finished = False
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, frame: Frame) -> bool:
        """Queue ``frame`` under the policy; False once the consumer has closed the queue."""
        with self._cond:
            if self._closed:
                return False
            if len(self._items) >= self.maxsize:
                if self.policy == "drop-newest":
                    self.dropped += 1
                    return True
                if self.policy == "drop-oldest":
                    self._items.popleft()
                    self.dropped += 1
                else:
                    self._cond.wait_for(lambda: len(self._items) < self.maxsize or self._closed)
                    if self._closed:
                        return False
            self._items.append(frame)
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify_all()
            return True

    def get(self, timeout_s: float) -> Frame | None:
        """The oldest frame, waiting up to ``timeout_s`` (0: do not wait); None if none came."""
        with self._cond:
            if timeout_s > 0:
                self._cond.wait_for(lambda: bool(self._items) or self._finished, timeout_s)
            if not self._items:
                return None
            frame = self._items.popleft()
            self._cond.notify_all()
            return frame

    @property
    def exhausted(self) -> bool:
        """The producer is done and every frame it queued has been taken."""
        with self._cond:
            return self._finished and not self._items

    def finish(self, error: BaseException | None = None) -> None:
        """Called by the producer: no more frames; ``error`` (if any) is raised after the last one is taken."""
        with self._cond:
            self._finished = True
            self.error = error
            self._cond.notify_all()

    def close(self) -> None:
        """Called by the consumer: it takes nothing more, so a blocked producer must give up."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def require_source_timeouts(reconnect_s: float, stall_timeout_s: float) -> None:
    """Refuse a negative or NaN --reconnect / --stall-timeout (written `not >=`: NaN fails every comparison).
    Infinity is accepted: reconnect for ever, never count as stalled."""
    if not reconnect_s >= 0:
        raise Cnn2GnnError(f"--reconnect must be >= 0 seconds (0: give up at once), got {reconnect_s}")
    if not stall_timeout_s >= 0:
        raise Cnn2GnnError(f"--stall-timeout must be >= 0 seconds (0: wait forever), got {stall_timeout_s}")


class CaptureThread:
    """Reads ``source`` into ``queue`` until the source ends, is lost for good, or ``stop`` is called.

    A live source that stops delivering is reopened with exponential back-off (0.5 s doubling to 8 s)
    for up to ``reconnect_s`` seconds. ``stalled`` is the watchdog the consumer polls: it reports a read
    blocked for more than ``stall_timeout_s`` (or a reopen for more than the open timeout), which no
    OpenCV backend can be relied on to interrupt itself.
    """

    def __init__(self, source: FrameSource, queue: FrameQueue, *, open_timeout_s: float = 5.0,
                 reconnect_s: float = 10.0, stall_timeout_s: float = 10.0,
                 log: Callable[[str], None] = lambda message: None, source_id: int = 0) -> None:
        require_source_timeouts(reconnect_s, stall_timeout_s)
        self.source = source
        self.queue = queue
        self.source_id = source_id
        self.frames_read = 0
        self.reconnects = 0
        self.properties: dict[str, object] = {}  # what the opened source delivers (size, fps), read in this thread
        self._open_timeout_s = open_timeout_s
        self._reconnect_s = reconnect_s
        self._stall_timeout_s = stall_timeout_s
        self._log = log
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._blocked: tuple[str, float] | None = None  # ("read" | "open", since): a call into the source
        self._thread = threading.Thread(target=self._run, name="cnn2gnn-capture", daemon=True)

    def start(self) -> None:
        """Start opening and reading, without waiting: several sources open in parallel."""
        self._thread.start()

    def wait_open(self) -> None:
        """Return once the first frame is in, or raise SourceOpenError."""
        if not self._opened.wait(self._open_timeout_s + 1.0):
            self.stop(join_timeout_s=0.0)
            raise SourceOpenError(f"{self.source.description} delivered no frame within "
                                  f"{self._open_timeout_s:g} s (--open-timeout)")
        if self._open_error is not None:
            raise self._open_error

    def stop(self, join_timeout_s: float = 2.0) -> None:
        """Stop and wait for the thread. A read stuck inside OpenCV cannot be interrupted: after
        ``join_timeout_s`` the (daemon) thread is left to finish or die with the process."""
        self._stop.set()
        self.queue.close()
        self.source.interrupt()
        if self._thread.is_alive():
            self._thread.join(join_timeout_s)

    def stalled(self) -> str | None:
        """Why the source counts as stalled, or None while it is healthy."""
        blocked = self._blocked
        if blocked is None:
            return None
        kind, since = blocked
        limit = self._stall_timeout_s if kind == "read" else self._open_timeout_s + 1.0
        waited = time.perf_counter() - since
        if not limit or waited <= limit:
            return None
        what = "no frame" if kind == "read" else "reconnecting has hung"
        return (f"{self.source.description} stalled: {what} for {waited:.1f} s after {self.frames_read} frames "
                f"(--stall-timeout {self._stall_timeout_s:g} s)")

    def _call(self, kind: str, fn: Callable[[], object]) -> object:
        self._blocked = (kind, time.perf_counter())
        try:
            return fn()
        finally:
            self._blocked = None

    def _run(self) -> None:
        try:
            try:
                self._call("open", self.source.open)
                self.properties = self.source.properties()
            except BaseException as exc:  # handed to start(), which raises it in the caller's thread
                self._open_error = exc
                return
            finally:
                self._opened.set()
            self._read_until_done()
        except BaseException as exc:  # a decode error or a bug: raised by the consumer after the queued frames
            self.queue.finish(exc)
        finally:
            self.source.close()

    def _read_until_done(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            got = self._call("read", self.source.read)
            now = time.perf_counter()
            if self._stop.is_set():
                break
            if got is None:
                if not self.source.live or self.source.ended:
                    warning = self.source.truncation_warning(self.frames_read)
                    if warning:
                        self._log(warning)
                    break
                if not self._reconnect():
                    return
                continue
            image, origin = got  # type: ignore[misc]
            frame = Frame(self.frames_read, image, origin, time.time(), now, now - start, self.source_id)
            self.frames_read += 1
            if not self.queue.put(frame):
                break
        self.queue.finish()

    def _reconnect(self) -> bool:
        name = self.source.description
        deadline = time.perf_counter() + self._reconnect_s
        delay, attempt, last = 0.5, 0, "no attempt made (--reconnect 0)"
        self.source.close()
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                self.queue.finish(SourceLostError(
                    f"{name} stopped delivering frames after {self.frames_read} frames and did not come back "
                    f"within {self._reconnect_s:g} s (--reconnect); last attempt: {last}"))
                return False
            attempt += 1
            wait = min(delay, remaining)
            self._log(f"{name}: feed lost after {self.frames_read} frames; reconnect attempt {attempt} in {wait:.1f} s")
            if self._stop.wait(wait):
                return False
            try:
                self._call("open", self.source.open)
            except SourceOpenError as exc:
                last = str(exc)
                delay = min(delay * 2, _MAX_BACKOFF_S)
                continue
            self.reconnects += 1
            self._log(f"{name}: reconnected after {attempt} attempt(s)")
            return True
