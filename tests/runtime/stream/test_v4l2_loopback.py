"""A V4L2 camera emulated with the v4l2loopback kernel module, fed by GStreamer's v4l2sink, read by ``run``.

Needs the module loaded (``modprobe v4l2loopback``, which needs loadable kernel modules and the rights to
load them) and gst-launch-1.0 with v4l2sink (gstreamer1.0-plugins-good). Skipped with the reason otherwise.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.stream import StreamConfig, run_stream


def _loopback_devices() -> list[Path]:
    sysfs = Path("/sys/devices/virtual/video4linux")
    if not sysfs.is_dir():
        return []
    return [Path("/dev") / d.name for d in sorted(sysfs.iterdir())
            if (d / "name").exists() and "loopback" in (d / "name").read_text().lower()]


def _why_not() -> str | None:
    if _loopback_devices():
        return None if shutil.which("gst-launch-1.0") else "no gst-launch-1.0 to feed the loopback device"
    release = platform.release()
    if not Path("/proc/modules").exists() or not Path(f"/lib/modules/{release}").exists():
        return (f"v4l2loopback cannot be loaded here: this kernel ({release}) has no loadable modules "
                f"(/proc/modules and /lib/modules/{release} are absent), so `modprobe v4l2loopback` "
                "(apt v4l2loopback-dkms) cannot work in this container; run on a host or VM that allows it")
    return "v4l2loopback is not loaded: sudo modprobe v4l2loopback exclusive_caps=1"


_WHY_NOT = _why_not()


@pytest.mark.skipif(_WHY_NOT is not None, reason=str(_WHY_NOT))
def test_run_reads_an_emulated_v4l2_camera(student_model, tmp_path):
    device = _loopback_devices()[0]
    feeder = subprocess.Popen(["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
                               "video/x-raw,format=YUY2,width=320,height=240,framerate=30/1", "!", "v4l2sink",
                               f"device={device}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with load_backend(student_model.path) as backend:
            summary = run_stream(backend, StreamConfig(source=f"v4l2://{device}", out=tmp_path / "f.jsonl",
                                                       max_frames=30, status_every_s=0),
                                 log=lambda message: None, handle_signals=False)
    finally:
        feeder.kill()
        feeder.wait()
    assert summary["status"] == "max_frames" and summary["source"]["width"] == 320
