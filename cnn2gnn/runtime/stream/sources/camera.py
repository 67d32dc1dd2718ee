"""Cameras: an index (``0``) through OpenCV's default capture API, or ``v4l2:///dev/videoN`` through V4L2."""

from __future__ import annotations

from pathlib import Path

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource, after_scheme
from cnn2gnn.runtime.stream.sources.video_capture import VideoCaptureSource


def _camera_hint(name: str) -> str:
    return (f": is a camera connected as {name} (`ls /dev/video*`, `v4l2-ctl --list-devices`) and not held by "
            "another program?")


def is_camera_index(text: str) -> bool:
    return text.isdigit()


def camera_source(text: str, settings: CaptureSettings) -> FrameSource:
    index = int(text)
    return VideoCaptureSource(f"camera {index}", index, "CAP_ANY", settings, live=True, camera=True,
                              hint=_camera_hint(f"index {index}"))


def v4l2_source(text: str, settings: CaptureSettings) -> FrameSource:
    device = after_scheme(text)
    if not Path(device).exists():
        raise SourceOpenError(f"v4l2://{device}: {device} does not exist{_camera_hint(device)}")
    return VideoCaptureSource(f"v4l2://{device}", device, "CAP_V4L2", settings, live=True, camera=True,
                              hint=_camera_hint(device))
