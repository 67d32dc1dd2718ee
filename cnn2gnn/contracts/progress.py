"""Progress for long stages that reads well both live and in a log: a tqdm bar when stderr is a terminal;
otherwise one plain line at a time (every 10% of the total, or every 30 s, whichever comes first), never a
carriage return, so a log file gets a bounded number of readable lines instead of one line thousands of
characters long."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Iterable, Iterator, TextIO

# A log line at least every this many seconds, and at every such fraction of the total.
LOG_INTERVAL_S = 30.0
LOG_FRACTION = 0.1


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    leave: bool = True,
    file: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """A tqdm-like progress object (iterate it, or ``update(n)``; ``set_postfix``, ``close``, ``with``):
    a live tqdm bar on a terminal, :class:`LogProgress` lines on any other stream, nothing when disabled."""
    stream = sys.stderr if file is None else file
    if not enabled or _is_terminal(stream):
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, leave=leave, file=stream,
                    dynamic_ncols=True)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, file=stream, clock=clock)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class LogProgress:
    """Plain progress lines for a log: ``desc: n/total unit (p%), elapsed, ~eta left, postfix``."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", file: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit, self.file, self.clock = iterable, total, desc, unit, file, clock
        self.n = 0
        self.postfix = ""
        self._start = self._last_line = clock()
        self._printed_n = 0
        self._next_mark = self._mark_after(0)
        self._closed = False

    def _mark_after(self, n: int) -> float:
        if not self.total:
            return float("inf")
        step = max(1.0, self.total * LOG_FRACTION)
        return (n // step + 1) * step

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LogProgress over no iterable: call update() instead")
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if self.n >= self._next_mark or now - self._last_line >= LOG_INTERVAL_S:
            self._write(now)

    def close(self) -> None:
        if not self._closed and self.n > self._printed_n:
            self._write(self.clock())
        self._closed = True

    def _write(self, now: float) -> None:
        elapsed = now - self._start
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            line = f"{head}{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%), {_duration(elapsed)}"
            if 0 < self.n < self.total:
                line += f", ~{_duration(elapsed * (self.total - self.n) / self.n)} left"
        else:
            line = f"{head}{self.n} {self.unit}, {_duration(elapsed)}"
        if self.postfix:
            line += f", {self.postfix}"
        print(line, file=self.file, flush=True)
        self._printed_n, self._last_line = self.n, now
        self._next_mark = self._mark_after(self.n)
