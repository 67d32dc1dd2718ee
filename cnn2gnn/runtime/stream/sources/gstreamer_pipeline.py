"""A GStreamer pipeline ending in ``appsink`` (``... ! videoconvert ! video/x-raw,format=BGR ! appsink``)."""

from __future__ import annotations

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.gstreamer import require_gstreamer
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource
from cnn2gnn.runtime.stream.sources.video_capture import VideoCaptureSource, opencv


def is_pipeline(text: str) -> bool:
    return "!" in text


def gstreamer_source(pipeline: str, settings: CaptureSettings) -> FrameSource:
    require_gstreamer(opencv(), "a GStreamer pipeline source")
    if "appsink" not in pipeline:
        raise SourceOpenError(f"GStreamer pipeline `{pipeline}` must end in appsink (`... ! videoconvert ! "
                              "video/x-raw,format=BGR ! appsink`) for OpenCV to receive its frames")
    # A pipeline that starts from files is ordered; anything else (cameras, network) is live.
    live = pipeline.split(maxsplit=1)[0] not in ("filesrc", "multifilesrc")
    return VideoCaptureSource(f"gstreamer:{pipeline}", pipeline, "CAP_GSTREAMER", settings, live=live,
                              hint=": check the pipeline with gst-launch-1.0 (replace appsink with fakesink)")
