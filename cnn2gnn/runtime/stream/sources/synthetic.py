"""``synthetic://`` frames generated in-process, like GStreamer's videotestsrc: a camera without a camera.

    synthetic://WxH?frames=N&fps=F&live=1&seed=S&lose_after=N&stall_after=N

``frames`` 0 (the default) is endless; ``fps`` 0 delivers as fast as the reader asks. ``live=1`` makes
the runtime treat it like a camera (drop frames when behind), ``live=0`` like a file (every frame).
``lose_after`` / ``stall_after`` make the feed drop for good / hang after that many frames, to rehearse
a camera that is unplugged or a network stream that freezes.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource

_KEYS = ("frames", "fps", "live", "seed", "lose_after", "stall_after")
_BANK = 8  # distinct frames cycled: cheap to hand out, yet consecutive frames differ
# DCI 4K's width. A larger side is a typo (an extra digit) that would ask for gigabytes: the bank of 8 frames
# of 4096x4096 is already 400 MB.
_MAX_SIDE = 4096


class SyntheticSource(FrameSource):
    def __init__(self, width: int = 320, height: int = 240, frames: int = 0, fps: float = 30.0, live: bool = True,
                 seed: int = 0, lose_after: int | None = None, stall_after: int | None = None) -> None:
        # `not 0 <= fps < inf`: NaN fails every comparison, so it is refused with the negative rates.
        if width < 1 or height < 1 or frames < 0 or not 0 <= fps < math.inf:
            raise SourceOpenError(f"synthetic source: size {width}x{height}, frames {frames} and fps {fps} must be "
                                  "positive, fps finite (frames and fps may be 0: endless / unpaced)")
        if max(width, height) > _MAX_SIDE:
            raise SourceOpenError(f"synthetic source: size {width}x{height} is over {_MAX_SIDE} pixels per side; "
                                  "ask for a camera-sized frame (e.g. 1920x1080)")
        self.width, self.height, self.frames, self._fps = width, height, frames, fps
        self.live = live
        self.lose_after, self.stall_after = lose_after, stall_after
        self.description = (f"synthetic://{width}x{height}?frames={frames}&fps={fps:g}&live={int(live)}"
                            + (f"&lose_after={lose_after}" if lose_after is not None else "")
                            + (f"&stall_after={stall_after}" if stall_after is not None else ""))
        rng = np.random.default_rng(seed)
        self._bank = rng.integers(0, 256, (_BANK, height, width, 3), dtype=np.uint8)
        self._count = 0
        self._start = 0.0
        self._lost = False
        self._wake = threading.Event()

    @classmethod
    def from_spec(cls, spec: str) -> "SyntheticSource":
        parsed = urlparse(spec)
        size = parsed.netloc or "320x240"
        try:
            width, height = (int(v) for v in size.lower().split("x"))
            query = {k: v[-1] for k, v in parse_qs(parsed.query, strict_parsing=bool(parsed.query)).items()}
            unknown = sorted(set(query) - set(_KEYS))
            if unknown:
                raise ValueError(f"unknown option(s) {unknown}; use {', '.join(_KEYS)}")
            optional = {k: int(query[k]) for k in ("lose_after", "stall_after") if k in query}
            return cls(width, height, frames=int(query.get("frames", 0)), fps=float(query.get("fps", 30)),
                       live=query.get("live", "1") not in ("0", "false", "no"), seed=int(query.get("seed", 0)),
                       **optional)
        except ValueError as exc:
            raise SourceOpenError(f"{spec}: malformed synthetic source ({exc}); expected "
                                  "synthetic://WxH?frames=N&fps=F&live=0|1&seed=S&lose_after=N&stall_after=N") from exc

    def open(self) -> None:
        if self._lost:
            raise SourceOpenError(f"{self.description}: the feed is gone (lose_after={self.lose_after})")
        self._wake.clear()
        self._start = time.perf_counter() - (self._count / self._fps if self._fps else 0.0)

    def read(self) -> tuple[np.ndarray, str] | None:
        if self.frames and self._count >= self.frames:
            self.ended = True
            return None
        if self.lose_after is not None and self._count >= self.lose_after:
            self._lost = True
            return None
        if self.stall_after is not None and self._count >= self.stall_after:
            self._wake.wait()  # hangs like a frozen network read until the runtime gives up on it
            return None
        if self._fps:
            # Paced on an absolute schedule, so the rate does not drift with the reader's overhead.
            delay = self._start + self._count / self._fps - time.perf_counter()
            if delay > 0 and self._wake.wait(delay):
                return None
        frame = self._bank[self._count % _BANK].copy()  # a fresh buffer per frame, as a camera driver gives
        self._count += 1
        return frame, self.description

    def interrupt(self) -> None:
        self._wake.set()

    @property
    def fps(self) -> float | None:
        return self._fps or None

    def properties(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "fps": self.fps, "frames": self.frames or None}


def synthetic_source(spec: str, settings: CaptureSettings) -> FrameSource:
    """The registry's factory: generated frames take their size and rate from the string, not ``settings``."""
    return SyntheticSource.from_spec(spec)
