"""Start and stop the loopback RTSP server (``rtsp_server_process.py``) as its own process, bounded in time."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server_process.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi and the RTSP server's typelib install
PACKAGES = ("python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly")


def server_missing() -> str | None:
    """Why the server cannot run here, or None."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"no {SYSTEM_PYTHON} to run GStreamer's RTSP server with (apt-get install {PACKAGES})"
    try:
        check = subprocess.run([SYSTEM_PYTHON, str(SERVER_SCRIPT), "--check"], capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run the RTSP server's check: {exc}"
    answer = check.stdout.strip()
    return None if answer == "OK" else f"RTSP server unavailable ({answer or check.stderr.strip()}): " \
                                       f"apt-get install {PACKAGES}"


class RtspServer:
    """``start()`` -> the port; ``stop()`` kills it (a publisher that goes away); ``start()`` again reuses the port."""

    def __init__(self, frames: Path, fps: int = 25, lifetime_s: float = 60.0) -> None:
        self.frames, self.fps, self.lifetime_s = frames, fps, lifetime_s
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> int:
        proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER_SCRIPT), "--frames", str(self.frames), "--port",
                                 str(self.port), "--fps", str(self.fps), "--lifetime", str(self.lifetime_s)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        watchdog = threading.Timer(20, proc.kill)  # a server that never says READY must not hang the tests
        watchdog.start()
        try:
            line = proc.stdout.readline() if proc.stdout else ""
        finally:
            watchdog.cancel()
        if not line.startswith("READY "):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the RTSP server did not start (exit {proc.poll()}, said {line!r})")
        self._proc, self.port = proc, int(line.split()[1])
        return self.port

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def __enter__(self) -> "RtspServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
