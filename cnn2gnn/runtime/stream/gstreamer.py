"""GStreamer through OpenCV: is it built in, and the pipelines for Jetson CSI cameras and RTSP.

JetPack's system OpenCV is built with GStreamer; pip's opencv-python(-headless) wheels are not, and
installed into a venv they shadow the system build. That is the usual reason a CSI camera "won't
open", so every GStreamer source checks first and says so instead of failing inside OpenCV.
"""

from __future__ import annotations

from typing import Any

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.opencv_build import opencv_has_gstreamer

# appsink keeps only the newest buffer: a pipeline must not queue frames behind our own bounded queue.
_APPSINK = "appsink drop=true max-buffers=1 sync=false"
CSI_DEFAULT = (1280, 720, 30.0)


def require_gstreamer(cv2: Any, what: str) -> None:
    if not opencv_has_gstreamer(cv2):
        raise SourceOpenError(
            f"{what} needs an OpenCV built with GStreamer, and this one (cv2 {cv2.__version__} from "
            f"{cv2.__file__}) is not (cv2.getBuildInformation() says GStreamer: NO). On a Jetson use JetPack's "
            "system OpenCV: `pip uninstall opencv-python opencv-python-headless` in this environment and make the "
            "system cv2 visible (python3 -m venv --system-site-packages); elsewhere build OpenCV with "
            "-DWITH_GSTREAMER=ON."
        )


def csi_pipeline(sensor_id: int, width: int | None, height: int | None, fps: float | None) -> str:
    """A Jetson CSI camera via ``nvarguscamerasrc``, converted to BGR on the VIC (``nvvidconv``)."""
    w = width or CSI_DEFAULT[0]
    h = height or CSI_DEFAULT[1]
    rate = int(round(fps or CSI_DEFAULT[2]))
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={w},height={h},framerate={rate}/1,format=NV12 ! "
        "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! " + _APPSINK
    )


def rtsp_pipeline(url: str, latency_ms: int, transport: str) -> str:
    """RTSP with an explicit jitter-buffer ``latency``; ``decodebin`` picks the hardware decoder where there is one."""
    return (
        f'rtspsrc location="{url}" latency={latency_ms} protocols={transport} ! '
        "decodebin ! videoconvert ! video/x-raw,format=BGR ! " + _APPSINK
    )

