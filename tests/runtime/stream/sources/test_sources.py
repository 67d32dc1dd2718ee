import math
import socket
import time
from types import SimpleNamespace

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.exit_codes import SOURCE_OPEN_FAILED, SourceOpenError
from cnn2gnn.runtime.stream.gstreamer import csi_pipeline, rtsp_pipeline
from cnn2gnn.runtime.stream.opencv_build import build_value, opencv_has_gstreamer, opencv_has_gui
from cnn2gnn.runtime.stream.sources.base import CaptureSettings
from cnn2gnn.runtime.stream.sources.image_files import ImageFilesSource
from cnn2gnn.runtime.stream.sources.registry import source_from_spec
from cnn2gnn.runtime.stream.sources.synthetic import SyntheticSource
from cnn2gnn.runtime.stream.sources.video_capture import VideoCaptureSource
from tests.runtime.stream._media import write_png_folder


def _opened(spec: str, **settings) -> None:
    source = source_from_spec(spec, CaptureSettings(**settings))
    try:
        source.open()
    finally:
        source.close()


def _has_gstreamer() -> bool:
    import cv2

    return opencv_has_gstreamer(cv2)


def test_source_strings_map_to_their_kinds(tmp_path):
    write_png_folder([np.zeros((4, 4), np.uint8)] * 3, tmp_path / "imgs")
    (tmp_path / "clip.mkv").write_bytes(b"")
    camera = source_from_spec("0")
    assert isinstance(camera, VideoCaptureSource) and camera.live and camera.description == "camera 0"
    folder = source_from_spec(str(tmp_path / "imgs"))
    assert isinstance(folder, ImageFilesSource) and not folder.live and len(folder.paths) == 3
    assert len(source_from_spec(f"{tmp_path}/imgs/*.png").paths) == 3
    assert source_from_spec(str(tmp_path / "imgs" / "frame_2.png")).paths == [tmp_path / "imgs" / "frame_2.png"]
    video = source_from_spec(f"file://{tmp_path / 'clip.mkv'}")
    assert isinstance(video, VideoCaptureSource) and not video.live
    rtsp = source_from_spec("rtsp://127.0.0.1:9/x")
    assert rtsp.live and rtsp.description == "rtsp://127.0.0.1:9/x"
    synthetic = source_from_spec("synthetic://32x24?frames=5&fps=0&live=0")
    assert isinstance(synthetic, SyntheticSource)
    assert (synthetic.width, synthetic.height, synthetic.frames) == (32, 24, 5)


def test_image_folders_are_read_in_natural_order(tmp_path):
    for name in ("img10.png", "img2.png", "img1.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in source_from_spec(str(tmp_path)).paths] == ["img1.png", "img2.png", "img10.png"]


@pytest.mark.parametrize("spec, match", [
    ("/no/such/video.mp4", "does not exist"),
    ("v4l2:///dev/video97", "does not exist"),
    ("ftp://host/x", "unknown source scheme"),
    ("synthetic://12?fps=3", "malformed synthetic source"),
    ("synthetic://12x8?colour=red", "unknown option"),
    ("synthetic://99999x99999?frames=1", "size 99999x99999 is over 4096 pixels per side"),
    ("synthetic://12x8?fps=nan", "fps nan must be positive, fps finite"),
    ("synthetic://12x8?fps=inf", "fps inf must be positive, fps finite"),
    ("csi://left", "sensor id must be a number"),
])
def test_bad_source_strings_fail_as_open_failures(spec, match):
    with pytest.raises(SourceOpenError, match=match) as caught:
        source_from_spec(spec)
    assert caught.value.exit_code == SOURCE_OPEN_FAILED == 3


def test_a_camera_that_is_not_there_does_not_open():
    with pytest.raises(SourceOpenError, match=r"camera 97 did not open: is a camera connected"):
        _opened("97")


def test_a_file_that_is_not_a_video_does_not_open(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    with pytest.raises(SourceOpenError, match="video file OpenCV's FFmpeg can decode"):
        _opened(str(fake))


def test_an_empty_image_folder_does_not_open(tmp_path):
    with pytest.raises(SourceOpenError, match="holds no image files"):
        _opened(str(tmp_path))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_rtsp_port_nobody_listens_on_fails_at_once_as_connection_refused():
    port = _free_port()
    start = time.perf_counter()
    with pytest.raises(SourceOpenError, match=rf"rtsp://127.0.0.1:{port}/x did not open after 0.\d s: connection "
                                              rf"refused by 127.0.0.1:{port}: no RTSP server is listening there"):
        _opened(f"rtsp://127.0.0.1:{port}/x", open_timeout_s=5.0)
    assert time.perf_counter() - start < 2  # not the 5 s the old message claimed


def test_an_rtsp_server_that_never_answers_fails_as_timed_out_within_the_timeout():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x"
        start = time.perf_counter()
        with pytest.raises(SourceOpenError, match=r"did not open: timed out, no stream within 1 s \(--open-timeout\)"):
            _opened(url, open_timeout_s=1.0)
        assert 0.9 < time.perf_counter() - start < 5


def test_an_rtsp_host_that_does_not_exist_is_named():
    with pytest.raises(SourceOpenError, match=r"no such host 'no-such-host.invalid'"):
        _opened("rtsp://no-such-host.invalid/x", open_timeout_s=3.0)


@pytest.mark.skipif(_has_gstreamer(), reason="this OpenCV has GStreamer")
@pytest.mark.parametrize("spec", ["csi://0", "videotestsrc ! videoconvert ! appsink"])
def test_gstreamer_sources_say_this_opencv_lacks_gstreamer(spec):
    with pytest.raises(SourceOpenError, match="needs an OpenCV built with GStreamer.*GStreamer: NO"):
        source_from_spec(spec)


def test_gstreamer_pipelines():
    csi = csi_pipeline(1, 1920, 1080, 29.97)
    assert csi.startswith("nvarguscamerasrc sensor-id=1 ! "
                          "video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1")
    assert csi.endswith("appsink drop=true max-buffers=1 sync=false")
    assert "width=1280,height=720,framerate=30/1" in csi_pipeline(0, None, None, None)
    rtsp = rtsp_pipeline("rtsp://cam/stream", 80, "udp")
    assert 'location="rtsp://cam/stream" latency=80 protocols=udp' in rtsp and "appsink" in rtsp


def test_opencv_build_information_is_parsed():
    info = "  Video I/O:\n    GStreamer:                   YES (1.20.3)\n  GUI:                           GTK3\n"
    jetson = SimpleNamespace(getBuildInformation=lambda: info)
    headless = SimpleNamespace(getBuildInformation=lambda: "    GStreamer:   NO\n  GUI:    NONE\n")
    assert build_value(jetson, "GStreamer") == "YES (1.20.3)"
    assert opencv_has_gstreamer(jetson) and opencv_has_gui(jetson)
    assert not opencv_has_gstreamer(headless) and not opencv_has_gui(headless)


def test_synthetic_frames_are_paced_bounded_and_can_fail_on_purpose():
    source = SyntheticSource(16, 12, frames=10, fps=100.0)
    source.open()
    start = time.perf_counter()
    frames = [source.read() for _ in range(11)]
    elapsed = time.perf_counter() - start
    assert all(f is not None and f[0].shape == (12, 16, 3) for f in frames[:10]) and frames[10] is None
    assert source.ended and 0.08 < elapsed < 0.5  # 10 frames at 100 fps: the 10th is due at 90 ms
    lost = SyntheticSource(4, 4, fps=0, lose_after=2)
    lost.open()
    assert lost.read() is not None and lost.read() is not None and lost.read() is None and not lost.ended
    with pytest.raises(SourceOpenError, match="the feed is gone"):
        lost.open()


def test_capture_settings_are_validated():
    with pytest.raises(Cnn2GnnError, match="--width"):
        CaptureSettings(width=0)
    with pytest.raises(Cnn2GnnError, match="--rtsp-transport"):
        CaptureSettings(rtsp_transport="http")
    with pytest.raises(Cnn2GnnError, match="--open-timeout"):
        CaptureSettings(open_timeout_s=0)
    for settings in ({"fps": math.nan}, {"fps": math.inf}, {"open_timeout_s": math.nan}, {"open_timeout_s": math.inf}):
        with pytest.raises(Cnn2GnnError, match="must be a finite number > 0"):
            CaptureSettings(**settings)
