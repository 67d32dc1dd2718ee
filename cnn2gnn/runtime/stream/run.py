"""The stream loop behind ``cnn2gnn run``: sources -> a capture thread and bounded queue each -> the muxer's
batches -> classifier -> outputs.

Ends when every source has ended, after ``max_frames``, on Ctrl-C / SIGTERM / ``stop``, or with a failure
class of its own (see ``exit_codes``). With several sources, one that fails to open, stalls or is lost is
reported and the others keep running; the run's exit code still says a source failed. Whatever ends it,
every output is finalised and the summary written before the error (if any) is raised.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Callable

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.classifier import Classifier
from cnn2gnn.runtime.stream import exit_codes
from cnn2gnn.runtime.stream.anchor_strip import strip_thumbnails
from cnn2gnn.runtime.stream.batching import StreamMuxer
from cnn2gnn.runtime.stream.exit_codes import OutputError, SourceLostError, SourceOpenError
from cnn2gnn.runtime.stream.outputs import (
    AnnotatedVideoWriter,
    JsonLinesWriter,
    PreviewWindow,
    annotate,
    display_problem,
    frame_record,
    written_message,
)
from cnn2gnn.runtime.stream.source_slot import SourceSlot, source_failure
from cnn2gnn.runtime.stream.stats import StreamStats, TimedRunner
from cnn2gnn.runtime.stream.stream_config import StreamConfig
from cnn2gnn.runtime.stream.summary import format_summary, run_summary

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

    def __init__(self, config: StreamConfig, fps: float, log: Callable[[str], None],
                 anchor_thumbnails: np.ndarray | None = None) -> None:
        self.config = config
        self.anchor_thumbnails = anchor_thumbnails  # drawn beside an explained frame's neighbours
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
                    self.window = PreviewWindow(f"cnn2gnn run: {config.specs[0]}")
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
            "video": str(self.config.save) if self.video and self.video.saved else None,
            "video_frames": self.video.frames if self.video else 0,
            "window": "shown" if self.window else self.show_problem,
        }


def run_stream(
    backend: Runner,
    config: StreamConfig,
    *,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
    on_batch: Callable[[StreamStats], None] | None = None,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Classify every frame ``config``'s sources deliver with ``backend``; returns the run's summary.

    ``stop`` ends the run cleanly from another thread; ``log`` receives status and warning lines
    (default: stderr); ``on_batch`` is called with the running statistics after every batch.
    Failures raise SourceOpenError / SourceLostError / OutputError (each with its ``exit_code``, and the
    run's summary as ``exc.summary``) after the outputs and the summary file are written.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    stop = stop or threading.Event()
    stats = StreamStats()
    timed = TimedRunner(backend)
    classifier = Classifier(timed)
    slots = [SourceSlot(i, spec) for i, spec in enumerate(config.specs)]
    configured = len(slots) if config.batch_frames is None else config.batch_frames
    batch_cap = min(configured, backend.max_batch or configured)
    outputs = None
    status, error = "error", None
    with _StopSignals(stop, handle_signals) as signals:
        try:
            condition = threading.Condition()  # shared by the sources' queues: the muxer waits for any of them
            for slot in slots:
                slot.prepare(config.capture, config.queue_size, config.drop_policy, condition,
                             reconnect_s=config.reconnect_s, stall_timeout_s=config.stall_timeout_s, log=log)
            # The first call loads OpenCV and lets the backend allocate; done now, it neither delays nor drops
            # the first frames (and refuses --explain for a model without neighbour outputs before any source opens).
            classifier.classify([np.zeros((64, 64, 3), dtype=np.uint8)], "BGR", 1, config.explain)
            # Explained frames that are drawn show the anchors' thumbnails: read and checked before any source opens.
            thumbnails = (strip_thumbnails(config.model_path or backend.path, backend.metadata, log)
                          if config.explain and (config.save is not None or config.show) else None)
            opened = _open_sources(slots, log)
            muxer = StreamMuxer([slot.queue for slot in opened], batch_cap, config.batch_wait_ms)
            _log_start(slots, batch_cap, backend, log)
            outputs = _Outputs(config, opened[0].source.fps or config.capture.fps or 30.0, log, thumbnails)
            stats = StreamStats()
            for slot in slots:
                slot.stats = StreamStats()
            status = _loop(config, muxer, slots, opened, classifier, timed, outputs, stats, stop, log, on_batch)
            if status == "stopped" and signals.received:
                status = signals.received
            failure = source_failure(slots)
            if failure is not None and status not in ("interrupted", "terminated"):
                raise failure
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
            _stop_captures(slots)
            if outputs is not None:
                outputs.close(commit=False)  # a crash: nothing half-written is left behind
            raise
        _stop_captures(slots)
        if outputs is not None:
            failure = outputs.close(commit=True)
            if failure is not None and error is None:
                status, error = "output_failed", failure
            elif failure is not None:  # the exit code tells the first failure; a lost output must still be told
                log(f"also: {failure}")

    summary = run_summary(
        backend, slots, stats, status=status, exit_code=STATUS_EXIT_CODES[status],
        message=str(error) if error else None, queue_size=config.queue_size, batch_cap=batch_cap,
        batch_wait_ms=config.batch_wait_ms,
        outputs={**(outputs.describe() if outputs else {}), "summary": str(config.summary) if config.summary else None})
    if config.summary is not None:
        try:
            atomic_write_json(config.summary, summary)
        except OSError as exc:
            failure = OutputError(written_message(exc, f"cannot write the summary {config.summary}"))
            if error is None:
                summary.update(status="output_failed", exit_code=failure.exit_code, message=str(failure))
                error = failure
    log(format_summary(summary))
    if error is not None:
        error.summary = summary  # type: ignore[attr-defined]  # the CLI prints it in --json mode
        raise error
    return summary


def _open_sources(slots: list[SourceSlot], log: Callable[[str], None]) -> list[SourceSlot]:
    """Open every source in parallel and return those that opened; with several, those that did not are
    reported and left out. Raises the failure when none opened."""
    for slot in slots:
        if slot.capture is not None:
            slot.capture.start()
    for slot in slots:
        if slot.capture is not None:
            try:
                slot.capture.wait_open()
            except SourceOpenError as exc:
                slot.fail(exc)
    opened = [slot for slot in slots if slot.error is None]
    failure = source_failure(slots)
    if not opened and failure is not None:
        raise failure
    for slot in slots:
        if slot.error is not None:
            log(f"[{slot.id}] {slot.spec} left out: {slot.error}")
    return opened


def _log_start(slots: list[SourceSlot], batch_cap: int, backend: Runner, log: Callable[[str], None]) -> None:
    def describe(slot: SourceSlot) -> str:
        queue = slot.queue
        assert slot.source is not None and queue is not None
        return (f"{slot.source.description} ({'live' if slot.source.live else 'ordered'}, queue {queue.maxsize} "
                f"{queue.policy}")

    model = f"{backend.path.name} [{backend.name}]; Ctrl-C stops"
    if len(slots) == 1:
        log(f"cnn2gnn run: {describe(slots[0])}, batch <= {batch_cap}) -> {model}")
        return
    running = [slot for slot in slots if slot.error is None]
    log(f"cnn2gnn run: {len(running)} of {len(slots)} sources, batched together up to {batch_cap} -> {model}")
    for slot in running:
        log(f"  [{slot.id}] {describe(slot)})")


def _stop_captures(slots: list[SourceSlot]) -> None:
    for slot in slots:
        if slot.capture is not None:
            slot.capture.stop()


def _retire_finished(slots: list[SourceSlot], opened: list[SourceSlot], muxer: StreamMuxer,
                     log: Callable[[str], None]) -> None:
    """Take sources that ended, were lost or stalled out of the muxer (whose queues are ``opened``'s);
    with several sources, say so."""
    for position, slot in enumerate(opened):
        if slot.retire_if_finished():
            muxer.drop(position)
            if slot.error is not None and len(slots) > 1:
                still = sum(not s.done for s in slots)
                log(f"[{slot.id}] {slot.status}: {slot.error}; {still} source(s) still running")


def _loop(config: StreamConfig, muxer: StreamMuxer, slots: list[SourceSlot], opened: list[SourceSlot],
          classifier: Classifier,
          timed: TimedRunner, outputs: _Outputs, stats: StreamStats, stop: threading.Event,
          log: Callable[[str], None], on_batch: Callable[[StreamStats], None] | None) -> str:
    several = len(slots) > 1
    next_status = time.perf_counter() + config.status_every_s
    while not stop.is_set():
        if config.status_every_s and time.perf_counter() >= next_status:
            log(_status_line(slots, stats))
            next_status = time.perf_counter() + config.status_every_s
        batch = muxer.next_batch(_POLL_S)
        _retire_finished(slots, opened, muxer, log)
        if batch is None:
            return "completed"
        if not batch:
            continue
        if config.max_frames is not None:
            batch = batch[: config.max_frames - stats.processed]
        start = time.perf_counter()
        predictions = classifier.classify([config.crop.apply(f.image) for f in batch], "BGR", config.top_k,
                                          config.explain)
        infer_start, infer_end = timed.last_call
        results_at = time.perf_counter()
        records = [frame_record(f.index, f.timestamp, f.origin, p, (results_at - f.captured_at) * 1e3,
                                f.source_id if several else None) for f, p in zip(batch, predictions)]
        outputs.json.write(records)
        keep_going = True
        for frame, prediction, record in zip(batch, predictions, records):
            stats.record_frame(record["latency_ms"], results_at)
            slots[frame.source_id].stats.record_frame(record["latency_ms"], results_at)
            if outputs.draws:
                recent_fps = stats.recent_fps()
                info = f"#{frame.index}  {record['latency_ms']:.1f} ms" + (
                    f"  {recent_fps:.1f} fps" if recent_fps else "")
                image = annotate(frame.image, prediction, config.crop.box(*frame.image.shape[:2]), info,
                                 outputs.anchor_thumbnails)
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


def _status_line(slots: list[SourceSlot], stats: StreamStats) -> str:
    queues = [slot.queue for slot in slots if slot.queue is not None]
    line = stats.status_line(sum(q.dropped for q in queues), sum(len(q) for q in queues),
                             sum(q.maxsize for q in queues))
    if len(slots) == 1:
        return line
    per_source = []
    for slot in slots:
        fps = slot.stats.recent_fps()
        state = f"{fps:.1f} fps" if fps is not None and not slot.done else slot.status if slot.done else "-"
        per_source.append(f"[{slot.id}] {state}")
    return line + " | " + " ".join(per_source)
