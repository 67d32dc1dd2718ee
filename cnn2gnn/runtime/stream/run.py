"""The stream loop behind ``cnn2gnn run``: source -> capture thread -> micro-batches -> classifier -> outputs.

Ends when the source ends, after ``max_frames``, on Ctrl-C / SIGTERM / ``stop``, or with a failure
class of its own (see ``exit_codes``). Whatever ends it, every output is finalised and the summary
written before the error (if any) is raised.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backend import Backend
from cnn2gnn.runtime.classifier import Classifier
from cnn2gnn.runtime.stream import exit_codes
from cnn2gnn.runtime.stream.batching import MicroBatcher
from cnn2gnn.runtime.stream.capture import CaptureThread, FrameQueue, resolve_drop_policy
from cnn2gnn.runtime.stream.crop import Crop
from cnn2gnn.runtime.stream.exit_codes import OutputError, SourceLostError, SourceOpenError
from cnn2gnn.runtime.stream.outputs import (
    AnnotatedVideoWriter,
    JsonLinesWriter,
    PreviewWindow,
    annotate,
    display_problem,
    frame_record,
)
from cnn2gnn.runtime.stream.sources import CaptureSettings, source_from_spec
from cnn2gnn.runtime.stream.stats import StreamStats, TimedBackend, process_memory_mb

STATUS_EXIT_CODES = {
    "completed": exit_codes.OK,  # the source ended
    "max_frames": exit_codes.OK,
    "stopped": exit_codes.OK,  # the window was closed, or the caller's stop event was set
    "error": exit_codes.USER_ERROR,
    "source_open_failed": exit_codes.SOURCE_OPEN_FAILED,
    "source_lost": exit_codes.SOURCE_LOST,
    "output_failed": exit_codes.OUTPUT_FAILED,
    "interrupted": exit_codes.INTERRUPTED,
    "terminated": exit_codes.TERMINATED,
}
_POLL_S = 0.1  # how often the loop looks at the stop flag and the stall watchdog while it waits


@dataclass(frozen=True)
class StreamConfig:
    source: str
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    top_k: int = 5
    queue_size: int = 4
    drop_policy: str = "auto"
    batch_frames: int = 1
    batch_wait_ms: float = 10.0
    crop: Crop = field(default_factory=Crop)
    reconnect_s: float = 10.0
    stall_timeout_s: float = 10.0
    max_frames: int | None = None
    out: Path | None = None  # frame records: None -> stdout
    save: Path | None = None  # annotated video
    fourcc: str | None = None
    show: bool = False
    summary: Path | None = None
    status_every_s: float = 2.0

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise Cnn2GnnError(f"--top-k must be >= 1, got {self.top_k}")
        if self.max_frames is not None and self.max_frames < 1:
            raise Cnn2GnnError(f"--max-frames must be >= 1, got {self.max_frames}")
        if self.status_every_s < 0:
            raise Cnn2GnnError(f"--status-every must be >= 0 seconds (0: off), got {self.status_every_s}")


class _StopSignals:
    """SIGINT / SIGTERM set the stop event instead of raising inside whatever is running, so the loop
    can finish its batch and finalise the outputs. A second Ctrl-C raises KeyboardInterrupt at once
    (e.g. while a source is still opening); the outputs are finalised all the same."""

    def __init__(self, stop: threading.Event, enabled: bool) -> None:
        self.stop = stop
        self.received: str | None = None
        self._enabled = enabled and threading.current_thread() is threading.main_thread()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and self.received == "interrupted":
            raise KeyboardInterrupt
        self.received = "interrupted" if signum == signal.SIGINT else "terminated"
        self.stop.set()

    def __enter__(self) -> "_StopSignals":
        if self._enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Outputs:
    """The run's outputs, opened together and closed together."""

    def __init__(self, config: StreamConfig, fps: float, log: Callable[[str], None]) -> None:
        self.config = config
        self.json = JsonLinesWriter(config.out)
        self.video: AnnotatedVideoWriter | None = None
        self.window: PreviewWindow | None = None
        self.show_problem: str | None = None
        try:
            if config.save is not None:
                self.video = AnnotatedVideoWriter(config.save, fps, config.fourcc)
            if config.show:
                self.show_problem = display_problem()
                if self.show_problem:
                    log(self.show_problem + "; running without a window")
                else:
                    self.window = PreviewWindow(f"cnn2gnn run: {config.source}")
        except BaseException:
            self.close(commit=False)
            raise

    @property
    def draws(self) -> bool:
        return self.video is not None or self.window is not None

    def close(self, commit: bool) -> OutputError | None:
        """Close everything; the first failure is returned, not raised, so the rest still get closed."""
        failure: OutputError | None = None
        for item in (self.json, self.video):
            if item is None:
                continue
            try:
                item.close(commit)
            except (OSError, OutputError) as exc:
                failure = failure or (exc if isinstance(exc, OutputError) else OutputError(str(exc)))
        if self.window is not None:
            self.window.close()
        return failure

    def describe(self) -> dict[str, Any]:
        return {
            "frames": str(self.config.out) if self.config.out else "stdout",
            "frame_lines": self.json.lines,
            "video": str(self.config.save) if self.video and self.video.frames else None,
            "video_frames": self.video.frames if self.video else 0,
            "window": "shown" if self.window else self.show_problem,
        }


def run_stream(
    backend: Backend,
    config: StreamConfig,
    *,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
    on_batch: Callable[[StreamStats], None] | None = None,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Classify every frame ``config.source`` delivers with ``backend``; returns the run's summary.

    ``stop`` ends the run cleanly from another thread; ``log`` receives status and warning lines
    (default: stderr); ``on_batch`` is called with the running statistics after every batch.
    Failures raise SourceOpenError / SourceLostError / OutputError (each with its ``exit_code``, and the
    run's summary as ``exc.summary``) after the outputs and the summary file are written.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    stop = stop or threading.Event()
    stats = StreamStats()
    timed = TimedBackend(backend)
    classifier = Classifier(timed)
    batch_cap = min(config.batch_frames, backend.max_batch or config.batch_frames)
    source, queue, capture, outputs = None, None, None, None
    status, error = "error", None
    with _StopSignals(stop, handle_signals) as signals:
        try:
            source = source_from_spec(config.source, config.capture)
            queue = FrameQueue(config.queue_size, resolve_drop_policy(config.drop_policy, source.live))
            batcher = MicroBatcher(queue, batch_cap, config.batch_wait_ms)
            capture = CaptureThread(source, queue, open_timeout_s=config.capture.open_timeout_s,
                                    reconnect_s=config.reconnect_s, stall_timeout_s=config.stall_timeout_s, log=log)
            # The first call loads OpenCV and lets the backend allocate; done now, it neither delays nor drops
            # the first frames.
            classifier.classify([np.zeros((64, 64, 3), dtype=np.uint8)], "BGR", 1)
            capture.start()
            log(f"cnn2gnn run: {source.description} ({'live' if source.live else 'ordered'}, queue {queue.maxsize} "
                f"{queue.policy}, batch <= {batch_cap}) -> {backend.path.name} [{backend.name}]; "
                "Ctrl-C stops")
            outputs = _Outputs(config, source.fps or config.capture.fps or 30.0, log)
            stats = StreamStats()
            status = _loop(config, batcher, capture, classifier, timed, outputs, stats, stop, log, on_batch)
            if status == "stopped" and signals.received:
                status = signals.received
        except SourceOpenError as exc:
            status, error = "source_open_failed", exc
        except SourceLostError as exc:
            status, error = "source_lost", exc
        except OutputError as exc:
            status, error = "output_failed", exc
        except Cnn2GnnError as exc:
            status, error = "error", exc
        except KeyboardInterrupt:  # a second Ctrl-C, or signals not ours to handle: stop without waiting
            status = "interrupted"
        except BaseException:
            if capture is not None:
                capture.stop()
            if outputs is not None:
                outputs.close(commit=False)  # a crash: nothing half-written is left behind
            raise
        if capture is not None:
            capture.stop()
        if outputs is not None:
            failure = outputs.close(commit=True)
            if failure is not None and error is None:
                status, error = "output_failed", failure

    summary = {
        "status": status,
        "exit_code": STATUS_EXIT_CODES[status],
        "message": str(error) if error else None,
        "model": {"path": str(backend.path), "backend": backend.name, "kind": backend.metadata.kind,
                  "precision": backend.metadata.precision, "providers": getattr(backend, "providers", None)},
        "source": {"spec": config.source, "description": source.description if source else None,
                   "live": source.live if source else None, **(capture.properties if capture is not None else {})},
        "frames": {"captured": capture.frames_read if capture is not None else 0, "processed": stats.processed,
                   "dropped": queue.dropped if queue is not None else 0},
        "queue": {"size": config.queue_size, "policy": queue.policy if queue is not None else None,
                  "high_water": queue.high_water if queue is not None else 0},
        "batching": {"max_frames": batch_cap, "max_wait_ms": config.batch_wait_ms},
        "reconnects": capture.reconnects if capture is not None else 0,
        "outputs": {**(outputs.describe() if outputs else {}), "summary": str(config.summary) if config.summary else None},
        "memory_mb": process_memory_mb(),
        **stats.summary(),
    }
    frames = summary["frames"]
    frames["unprocessed"] = frames["captured"] - frames["processed"] - frames["dropped"]
    if config.summary is not None:
        try:
            atomic_write_json(config.summary, summary)
        except OSError as exc:
            failure = OutputError(f"cannot write the summary {config.summary}: {exc}")
            if error is None:
                summary.update(status="output_failed", exit_code=failure.exit_code, message=str(failure))
                error = failure
    log(format_summary(summary))
    if error is not None:
        error.summary = summary  # type: ignore[attr-defined]  # the CLI prints it in --json mode
        raise error
    return summary


def _loop(config: StreamConfig, batcher: MicroBatcher, capture: CaptureThread, classifier: Classifier,
          timed: TimedBackend, outputs: _Outputs, stats: StreamStats, stop: threading.Event,
          log: Callable[[str], None], on_batch: Callable[[StreamStats], None] | None) -> str:
    queue = batcher.queue
    next_status = time.perf_counter() + config.status_every_s
    while not stop.is_set():
        if config.status_every_s and time.perf_counter() >= next_status:
            log(stats.status_line(queue.dropped, len(queue), queue.maxsize))
            next_status = time.perf_counter() + config.status_every_s
        batch = batcher.next_batch(_POLL_S)
        if batch is None:
            return "completed"
        if not batch:
            stalled = capture.stalled()
            if stalled:
                raise SourceLostError(stalled)
            continue
        if config.max_frames is not None:
            batch = batch[: config.max_frames - stats.processed]
        start = time.perf_counter()
        predictions = classifier.classify([config.crop.apply(f.image) for f in batch], "BGR", config.top_k)
        infer_start, infer_end = timed.last_call
        results_at = time.perf_counter()
        records = [frame_record(f.index, f.timestamp, f.origin, p, (results_at - f.captured_at) * 1e3)
                   for f, p in zip(batch, predictions)]
        outputs.json.write(records)
        keep_going = True
        for frame, prediction, record in zip(batch, predictions, records):
            stats.record_frame(record["latency_ms"], results_at)
            if outputs.draws:
                recent_fps = stats.recent_fps()
                info = f"#{frame.index}  {record['latency_ms']:.1f} ms" + (f"  {recent_fps:.1f} fps" if recent_fps else "")
                image = annotate(frame.image, prediction, config.crop.box(*frame.image.shape[:2]), info)
                if outputs.video is not None:
                    outputs.video.write(image)
                if outputs.window is not None:
                    keep_going = outputs.window.show(image) and keep_going
        stats.record_batch(batch, start, infer_start - start, infer_end - infer_start,
                           time.perf_counter() - infer_end)
        if on_batch is not None:
            on_batch(stats)
        if config.max_frames is not None and stats.processed >= config.max_frames:
            return "max_frames"
        if not keep_going:
            return "stopped"
    return "stopped"


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-run report for people (stderr)."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    frames, lat, stages = summary["frames"], summary["latency_ms"], summary["stage_ms_per_frame"]
    fps = summary["fps"]
    lines = [
        f"{summary['status']} (exit {summary['exit_code']}): {frames['processed']} frames in "
        f"{summary['elapsed_s']:.1f} s, {'-' if fps is None else f'{fps:.1f}'} fps; "
        f"latency p50 {ms(lat['p50'])} ms, p95 {ms(lat['p95'])} ms; dropped {frames['dropped']} of "
        f"{frames['captured']} captured (queue {summary['queue']['size']}, {summary['queue']['policy']}, "
        f"high water {summary['queue']['high_water']})",
        "per frame: " + ", ".join(f"{stage} {ms(value)} ms" for stage, value in stages.items()),
    ]
    if summary["message"]:
        lines.append(f"reason: {summary['message']}")
    return "\n".join(lines)
