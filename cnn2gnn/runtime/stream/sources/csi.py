"""``csi://N``: a Jetson CSI camera through GStreamer's ``nvarguscamerasrc``."""

from __future__ import annotations

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.gstreamer import csi_pipeline, require_gstreamer
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource, after_scheme
from cnn2gnn.runtime.stream.sources.video_capture import VideoCaptureSource, opencv


def csi_source(text: str, settings: CaptureSettings) -> FrameSource:
    sensor = after_scheme(text)
    if not sensor.isdigit():
        raise SourceOpenError(f"csi://{sensor}: the sensor id must be a number (csi://0, csi://1)")
    require_gstreamer(opencv(), f"csi://{sensor}")
    pipeline = csi_pipeline(int(sensor), settings.width, settings.height, settings.fps)
    return VideoCaptureSource(f"csi://{sensor}", pipeline, "CAP_GSTREAMER", settings, live=True, hint=(
        f": GStreamer pipeline `{pipeline}`. Check the ribbon cable and sensor id, that nvargus-daemon runs "
        "(sudo systemctl restart nvargus-daemon), and that the width/height/fps is a mode the sensor has"))
