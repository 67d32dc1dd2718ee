"""The source behind every kind that OpenCV opens: cameras, video files, RTSP, GStreamer pipelines."""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Any, Callable, Iterator

import numpy as np

from cnn2gnn.contracts.lazy_import import OPENCV_HINT, lazy_import
from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource


def opencv() -> Any:
    return lazy_import("cv2", OPENCV_HINT, "reading frames from cameras, videos and streams")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables around a call that reads them (OpenCV's FFmpeg options) and restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


TRUNCATION_SHARE = 0.9  # a file that delivers fewer than this share of the frames its header announces is cut short


class VideoCaptureSource(FrameSource):
    """Anything ``cv2.VideoCapture`` opens, through the OpenCV capture API ``api`` (e.g. ``CAP_GSTREAMER``).

    ``diagnose(elapsed_s)``, where given, says why an open failed (OpenCV only says that it did), in place of
    the fixed ``hint``."""

    def __init__(self, description: str, target: int | str, api: str, settings: CaptureSettings, *, live: bool,
                 camera: bool = False, hint: str = "", env: dict[str, str] | None = None,
                 diagnose: Callable[[float], str] | None = None) -> None:
        self.description = description
        self.live = live
        self._target = target
        self._api = api
        self._settings = settings
        self._camera = camera
        self._hint = hint
        self._env = env or {}
        self._diagnose = diagnose
        self._cap: Any = None
        self._pending: np.ndarray | None = None

    def open(self) -> None:
        cv2 = opencv()
        timeout_ms = int(self._settings.open_timeout_s * 1000)
        params = [] if self._camera else [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                          cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        start = time.perf_counter()
        with _environment(self._env):
            cap = cv2.VideoCapture(self._target, getattr(cv2, self._api), params)
        if not cap.isOpened():
            cap.release()
            why = self._diagnose(time.perf_counter() - start) if self._diagnose else self._hint
            raise SourceOpenError(f"{self.description} did not open{why}")
        if self._camera:
            self._request_camera_mode(cv2, cap)
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceOpenError(f"{self.description} opened but delivered no frame{self._hint}")
        self._cap, self._pending = cap, frame

    def _request_camera_mode(self, cv2: Any, cap: Any) -> None:
        s = self._settings
        if s.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
        if s.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
        if s.fps:
            cap.set(cv2.CAP_PROP_FPS, s.fps)
        # The driver's own ring of buffers would add latency in front of our queue; one is enough.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def read(self) -> tuple[np.ndarray, str] | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame, self.description
        if self._cap is None:
            return None
        ok, frame = self._cap.read()
        return (frame, self.description) if ok and frame is not None else None

    def truncation_warning(self, frames_read: int) -> str | None:
        if self._cap is None or self.live:
            return None
        count = float(self._cap.get(opencv().CAP_PROP_FRAME_COUNT))  # -1, 0 or NaN where the container has none
        # Containers estimate the count for some codecs (duration x rate): only a clear shortfall is reported.
        if not math.isfinite(count) or count <= 0 or frames_read >= TRUNCATION_SHARE * count:
            return None
        announced = int(count)
        return (f"{self.description} ended after {frames_read} of the {announced} frames its header announces: the "
                "file is probably truncated or damaged (the frames after that point were not classified)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._pending = None, None

    @property
    def fps(self) -> float | None:
        if self._cap is None:
            return None
        value = float(self._cap.get(opencv().CAP_PROP_FPS))
        return value if 0 < value < 1000 else None

    def properties(self) -> dict[str, Any]:
        if self._cap is None:
            return {}
        cv2 = opencv()
        props: dict[str, Any] = {
            "backend": self._cap.getBackendName(),
            "width": int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "fps": self.fps,
        }
        if self._camera:
            s = self._settings
            props["requested"] = {"width": s.width, "height": s.height, "fps": s.fps}
        return props
