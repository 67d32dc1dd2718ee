"""Frame sources for ``cnn2gnn run``: what a SOURCE string means, and how each kind is opened and read.

Every source hands out OpenCV-ordered uint8 frames (BGR, or gray HxW) one at a time. ``live``
sources (cameras, RTSP, GStreamer pipelines) keep producing whether or not anyone keeps up, so the
capture queue drops frames for them; files and image folders are processed frame by frame in order.
"""

from __future__ import annotations

import abc
import contextlib
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import _cv2
from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.gstreamer import csi_pipeline, require_gstreamer, rtsp_pipeline
from cnn2gnn.runtime.stream.opencv_build import opencv_has_gstreamer

SOURCE_HELP = (
    "SOURCE: camera index (0) | v4l2:///dev/videoN | csi://N (Jetson CSI camera, needs OpenCV with GStreamer) | "
    "rtsp://HOST/PATH | file://PATH or a video path | an image folder or a glob ('frames/*.png') | "
    "a GStreamer pipeline ending in appsink | synthetic://WxH?frames=N&fps=F&live=1 (generated test frames)."
)
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
        for name in ("width", "height", "fps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise Cnn2GnnError(f"--{name} must be > 0, got {value}")
        if self.open_timeout_s <= 0:
            raise Cnn2GnnError(f"--open-timeout must be > 0 seconds, got {self.open_timeout_s}")
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

    def interrupt(self) -> None:
        """Ask a blocked ``read`` to return soon, where the source can (OpenCV captures cannot)."""

    @property
    def fps(self) -> float | None:
        """The nominal frame rate, when the source reports one."""
        return None

    def properties(self) -> dict[str, Any]:
        """What the opened source actually delivers, for the summary."""
        return {}


class VideoCaptureSource(FrameSource):
    """Anything ``cv2.VideoCapture`` opens: cameras, video files, RTSP, GStreamer pipelines."""

    def __init__(self, description: str, target: int | str, api: str, settings: CaptureSettings, *, live: bool,
                 camera: bool = False, hint: str = "", env: dict[str, str] | None = None) -> None:
        self.description = description
        self.live = live
        self._target = target
        self._api = api
        self._settings = settings
        self._camera = camera
        self._hint = hint
        self._env = env or {}
        self._cap: Any = None
        self._pending: np.ndarray | None = None

    def open(self) -> None:
        cv2 = _cv2()
        timeout_ms = int(self._settings.open_timeout_s * 1000)
        params = [] if self._camera else [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                          cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        with _environment(self._env):
            cap = cv2.VideoCapture(self._target, getattr(cv2, self._api), params)
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(f"{self.description} did not open{self._hint}")
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

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._pending = None, None

    @property
    def fps(self) -> float | None:
        if self._cap is None:
            return None
        value = float(self._cap.get(_cv2().CAP_PROP_FPS))
        return value if 0 < value < 1000 else None

    def properties(self) -> dict[str, Any]:
        if self._cap is None:
            return {}
        cv2 = _cv2()
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


class ImageFilesSource(FrameSource):
    """Image files in a fixed order, decoded exactly as the training data loaders decode them."""

    live = False

    def __init__(self, description: str, paths: list[Path]) -> None:
        self.description = description
        self.paths = paths
        self._next = 0

    def open(self) -> None:
        if not self.paths:
            raise SourceOpenError(f"{self.description} holds no image files ({_image_extensions_text()})")
        self._next = 0

    def read(self) -> tuple[np.ndarray, str] | None:
        from cnn2gnn.contracts.images import read_image

        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        image = read_image(path)  # RGB or gray; reversing the channels is exact, so BGR frames agree
        return (np.ascontiguousarray(image[:, :, ::-1]) if image.ndim == 3 else image), str(path)

    def properties(self) -> dict[str, Any]:
        return {"files": len(self.paths)}


def _image_extensions_text() -> str:
    from cnn2gnn.contracts.images import IMAGE_EXTENSIONS

    return " ".join(sorted(IMAGE_EXTENSIONS))


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


def _natural_key(path: Path) -> list[Any]:
    """frame2.png before frame10.png: numbered image sequences sort in capture order."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def _image_paths(paths: list[Path]) -> list[Path]:
    from cnn2gnn.contracts.images import is_image_file

    return sorted((p for p in paths if is_image_file(p)), key=_natural_key)


def _camera_hint(name: str) -> str:
    return (f": is a camera connected as {name} (`ls /dev/video*`, `v4l2-ctl --list-devices`) and not held by "
            "another program?")


def camera_source(index: int, settings: CaptureSettings) -> FrameSource:
    return VideoCaptureSource(f"camera {index}", index, "CAP_ANY", settings, live=True, camera=True,
                              hint=_camera_hint(f"index {index}"))


def v4l2_source(device: str, settings: CaptureSettings) -> FrameSource:
    if not Path(device).exists():
        raise SourceOpenError(f"v4l2://{device}: {device} does not exist{_camera_hint(device)}")
    return VideoCaptureSource(f"v4l2://{device}", device, "CAP_V4L2", settings, live=True, camera=True,
                              hint=_camera_hint(device))


def csi_source(sensor: str, settings: CaptureSettings) -> FrameSource:
    if not sensor.isdigit():
        raise SourceOpenError(f"csi://{sensor}: the sensor id must be a number (csi://0, csi://1)")
    cv2 = _cv2()
    require_gstreamer(cv2, f"csi://{sensor}")
    pipeline = csi_pipeline(int(sensor), settings.width, settings.height, settings.fps)
    return VideoCaptureSource(f"csi://{sensor}", pipeline, "CAP_GSTREAMER", settings, live=True, hint=(
        f": GStreamer pipeline `{pipeline}`. Check the ribbon cable and sensor id, that nvargus-daemon runs "
        "(sudo systemctl restart nvargus-daemon), and that the width/height/fps is a mode the sensor has"))


def rtsp_source(url: str, settings: CaptureSettings) -> FrameSource:
    """GStreamer's rtspsrc when OpenCV has it (its ``latency`` is the jitter buffer; ``decodebin`` uses the
    hardware decoder on a Jetson), else FFmpeg with the equivalent low-delay options."""
    cv2 = _cv2()
    hint = (f" within {settings.open_timeout_s:g} s: is the server up, and are the URL, port and credentials "
            "right? (--open-timeout waits longer)")
    if opencv_has_gstreamer(cv2):
        pipeline = rtsp_pipeline(url, settings.rtsp_latency_ms, settings.rtsp_transport)
        return VideoCaptureSource(url, pipeline, "CAP_GSTREAMER", settings, live=True, hint=hint)
    options = (f"rtsp_transport;{settings.rtsp_transport}|max_delay;{settings.rtsp_latency_ms * 1000}"
               "|fflags;nobuffer|flags;low_delay")
    return VideoCaptureSource(url, url, "CAP_FFMPEG", settings, live=True, hint=hint,
                              env={"OPENCV_FFMPEG_CAPTURE_OPTIONS": options})


def gstreamer_source(pipeline: str, settings: CaptureSettings) -> FrameSource:
    cv2 = _cv2()
    require_gstreamer(cv2, "a GStreamer pipeline source")
    if "appsink" not in pipeline:
        raise SourceOpenError(f"GStreamer pipeline `{pipeline}` must end in appsink (`... ! videoconvert ! "
                              "video/x-raw,format=BGR ! appsink`) for OpenCV to receive its frames")
    # A pipeline that starts from files is ordered; anything else (cameras, network) is live.
    live = pipeline.split(maxsplit=1)[0] not in ("filesrc", "multifilesrc")
    return VideoCaptureSource(f"gstreamer:{pipeline}", pipeline, "CAP_GSTREAMER", settings, live=live,
                              hint=": check the pipeline with gst-launch-1.0 (replace appsink with fakesink)")


def local_source(text: str, settings: CaptureSettings) -> FrameSource:
    """A video file, an image file, an image folder, or a glob of images."""
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFilesSource(str(path), _image_paths(list(path.iterdir())))
    if path.is_file():
        from cnn2gnn.contracts.images import IMAGE_EXTENSIONS

        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return ImageFilesSource(str(path), [path])
        return VideoCaptureSource(str(path), str(path), "CAP_FFMPEG", settings, live=False, hint=(
            ": is it a video file OpenCV's FFmpeg can decode (mp4, mkv, avi, ...), and complete?"))
    if glob.has_magic(text):
        matches = [Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)]
        return ImageFilesSource(text, _image_paths(matches))
    raise SourceOpenError(f"{text} does not exist (neither a video or image file nor a folder). {SOURCE_HELP}")


def source_from_spec(spec: str, settings: CaptureSettings | None = None) -> FrameSource:
    """The source a SOURCE string names (see ``SOURCE_HELP``); nothing is opened yet."""
    from cnn2gnn.runtime.stream.synthetic import SyntheticSource

    settings = settings or CaptureSettings()
    text = spec.strip()
    if text.isdigit():
        return camera_source(int(text), settings)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    rest = text.split("://", 1)[1] if scheme else ""
    if scheme == "v4l2":
        return v4l2_source(rest, settings)
    if scheme == "csi":
        return csi_source(rest, settings)
    if scheme in ("rtsp", "rtsps"):
        return rtsp_source(text, settings)
    if scheme == "synthetic":
        return SyntheticSource.from_spec(text)
    if scheme == "file":
        return local_source(unquote(rest), settings)  # file:///abs/path and file://relative/path
    if not scheme and Path(text).expanduser().exists():
        return local_source(text, settings)
    if "!" in text:
        return gstreamer_source(text, settings)
    if scheme:
        raise SourceOpenError(f"{text}: unknown source scheme {scheme}://. {SOURCE_HELP}")
    return local_source(text, settings)
