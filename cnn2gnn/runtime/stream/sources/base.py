"""What a frame source is (:class:`FrameSource`) and what it is asked for (:class:`CaptureSettings`).

Every source hands out OpenCV-ordered uint8 frames (BGR, or gray HxW) one at a time. ``live``
sources (cameras, RTSP, GStreamer pipelines) keep producing whether or not anyone keeps up, so the
capture queue drops frames for them; files and image folders are processed frame by frame in order.
A source that cannot open raises :class:`~cnn2gnn.runtime.stream.exit_codes.SourceOpenError`.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

RTSP_TRANSPORTS = ("tcp", "udp")


@dataclass(frozen=True)
class CaptureSettings:
    """What to ask of a source. Width/height/fps are requests a camera may round or ignore (the summary
    reports what it gave); the timeout bounds opening and each network read."""

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    open_timeout_s: float = 5.0
    rtsp_latency_ms: int = 200
    rtsp_transport: str = "tcp"

    def __post_init__(self) -> None:
        # Written `not 0 < value < inf`: NaN fails every comparison, so it is refused like 0.
        for name in ("width", "height", "fps"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise Cnn2GnnError(f"--{name} must be a finite number > 0, got {value}")
        if not 0 < self.open_timeout_s < math.inf:
            raise Cnn2GnnError(f"--open-timeout must be a finite number > 0 seconds, got {self.open_timeout_s}")
        if self.rtsp_latency_ms < 0:
            raise Cnn2GnnError(f"--rtsp-latency must be >= 0 ms, got {self.rtsp_latency_ms}")
        if self.rtsp_transport not in RTSP_TRANSPORTS:
            raise Cnn2GnnError(f"--rtsp-transport {self.rtsp_transport!r} unknown; use one of {RTSP_TRANSPORTS}")


class FrameSource(abc.ABC):
    """One stream of frames. ``open`` proves the source delivers (it reads the first frame); ``read``
    returns ``(image, origin)`` or None: the end for an ordered source, a lost feed for a live one.
    ``open`` may be called again after ``close`` to reconnect. All calls come from the capture thread,
    except ``interrupt``."""

    description: str
    live: bool
    ended = False  # set by a bounded live source (synthetic frames=N) whose None means "done", not "lost"

    @abc.abstractmethod
    def open(self) -> None:
        """Open and read the first frame; raise SourceOpenError (saying why and what to check) otherwise."""

    @abc.abstractmethod
    def read(self) -> tuple[np.ndarray, str] | None:
        """The next frame and where it came from (the file, for image folders)."""

    def close(self) -> None:
        """Release the device or file; ``open`` may follow."""

    def truncation_warning(self, frames_read: int) -> str | None:
        """Called at the end of an ordered source, before ``close``: a warning where it ended early (a file
        shorter than its header says), else None."""
        return None

    def interrupt(self) -> None:
        """Ask a blocked ``read`` to return soon, where the source can (OpenCV captures cannot)."""

    @property
    def fps(self) -> float | None:
        """The nominal frame rate, when the source reports one."""
        return None

    def properties(self) -> dict[str, Any]:
        """What the opened source actually delivers, for the summary."""
        return {}


def after_scheme(spec: str) -> str:
    """``v4l2:///dev/video0`` -> ``/dev/video0``: what a scheme's source string says after ``://``."""
    return spec.split("://", 1)[1]
