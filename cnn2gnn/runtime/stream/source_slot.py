"""One source of a run: its spec, the opened source, its own bounded queue, capture thread and statistics,
and how it ended. A run holds one slot per SOURCE; a slot that fails does not end the others.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from cnn2gnn.runtime.stream.capture import CaptureThread, FrameQueue, resolve_drop_policy
from cnn2gnn.runtime.stream.exit_codes import SourceLostError, SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource
from cnn2gnn.runtime.stream.sources.registry import source_from_spec
from cnn2gnn.runtime.stream.stats import StreamStats

SourceFailure = SourceOpenError | SourceLostError


@dataclass
class SourceSlot:
    id: int  # position among the run's sources; the JSON lines' source_id with several sources
    spec: str
    source: FrameSource | None = None
    queue: FrameQueue | None = None
    capture: CaptureThread | None = None
    stats: StreamStats = field(default_factory=StreamStats)
    error: SourceFailure | None = None
    done: bool = False  # no more frames will come from it (ended, lost, or never opened)

    def prepare(self, settings: CaptureSettings, queue_size: int, drop_policy: str, condition: threading.Condition,
                *, reconnect_s: float, stall_timeout_s: float, log: Callable[[str], None]) -> None:
        """Make the source, its queue and capture thread (nothing opened yet); a bad spec fails the slot."""
        try:
            self.source = source_from_spec(self.spec, settings)
        except SourceOpenError as exc:
            self.fail(exc)
            return
        self.queue = FrameQueue(queue_size, resolve_drop_policy(drop_policy, self.source.live), condition)
        self.capture = CaptureThread(self.source, self.queue, open_timeout_s=settings.open_timeout_s,
                                     reconnect_s=reconnect_s, stall_timeout_s=stall_timeout_s, log=log,
                                     source_id=self.id)

    @property
    def name(self) -> str:
        return self.source.description if self.source is not None else self.spec

    @property
    def status(self) -> str:
        if isinstance(self.error, SourceOpenError):
            return "open_failed"
        if isinstance(self.error, SourceLostError):
            return "lost"
        return "completed" if self.done else "stopped"

    def fail(self, error: SourceFailure) -> None:
        self.error, self.done = error, True
        if self.capture is not None:
            self.capture.stop(join_timeout_s=0.0)  # a read stuck in OpenCV must not hold up the other sources

    def retire_if_finished(self) -> bool:
        """Mark the slot done once its capture has ended (or stalled) and its queue is empty; True if so.

        A capture that ended with anything but a lost feed (a decoder crash, a bug) is re-raised: that is
        the run's failure, not this source's."""
        if self.done or self.queue is None or self.capture is None:
            return False
        if self.queue.exhausted:
            error = self.queue.error
            if error is None:
                self.done = True
            elif isinstance(error, (SourceLostError, SourceOpenError)):
                self.fail(error)
            else:
                raise error
            return True
        if not len(self.queue):
            stalled = self.capture.stalled()
            if stalled:
                self.fail(SourceLostError(stalled))
                return True
        return False

    def summary(self) -> dict[str, Any]:
        """This source's part of a multi-source summary."""
        queue, capture, stats = self.queue, self.capture, self.stats.summary()
        captured = capture.frames_read if capture is not None else 0
        dropped = queue.dropped if queue is not None else 0
        return {
            "id": self.id, "spec": self.spec, "description": self.name, "status": self.status,
            "message": str(self.error) if self.error else None,
            "live": self.source.live if self.source is not None else None,
            **(capture.properties if capture is not None else {}),
            "frames": {"captured": captured, "processed": self.stats.processed, "dropped": dropped,
                       "unprocessed": captured - self.stats.processed - dropped},
            "queue": {"policy": queue.policy if queue is not None else None,
                      "high_water": queue.high_water if queue is not None else 0},
            "reconnects": capture.reconnects if capture is not None else 0,
            "fps": stats["fps"], "latency_ms": stats["latency_ms"],
        }


def source_failure(slots: list[SourceSlot]) -> SourceFailure | None:
    """The error the run ends with when sources failed: a lone source's own; with several, one naming each
    failed source, SourceOpenError if any never opened (exit 3), else SourceLostError (exit 4)."""
    failed = [slot for slot in slots if slot.error is not None]
    if not failed:
        return None
    if len(slots) == 1:
        return failed[0].error
    kind = SourceOpenError if any(isinstance(s.error, SourceOpenError) for s in failed) else SourceLostError
    return kind(f"{len(failed)} of {len(slots)} sources failed: "
                + "; ".join(f"[{s.id}] {s.error}" for s in failed))

