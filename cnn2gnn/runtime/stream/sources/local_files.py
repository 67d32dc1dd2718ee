"""``file://PATH`` or a plain path: a video file, an image file or an image folder on this machine."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from cnn2gnn.contracts.images import IMAGE_EXTENSIONS
from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource, after_scheme
from cnn2gnn.runtime.stream.sources.image_files import ImageFilesSource, folder_source, glob_source, is_glob
from cnn2gnn.runtime.stream.sources.registry import source_help
from cnn2gnn.runtime.stream.sources.video_capture import VideoCaptureSource


def is_existing_path(text: str) -> bool:
    return "://" not in text and Path(text).expanduser().exists()


def local_source(text: str, settings: CaptureSettings) -> FrameSource:
    """``file:///abs/path``, ``file://relative/path`` or a path: video, image, image folder, or a glob of images."""
    if text.lower().startswith("file://"):
        text = unquote(after_scheme(text))
    path = Path(text).expanduser()
    if path.is_dir():
        return folder_source(path)
    if path.is_file():
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return ImageFilesSource(str(path), [path])
        return VideoCaptureSource(str(path), str(path), "CAP_FFMPEG", settings, live=False, hint=(
            ": is it a video file OpenCV's FFmpeg can decode (mp4, mkv, avi, ...), and complete?"))
    if is_glob(text):
        return glob_source(text, settings)
    raise SourceOpenError(f"{text} does not exist (neither a video or image file nor a folder). {source_help()}")
