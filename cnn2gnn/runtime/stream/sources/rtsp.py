"""``rtsp://`` / ``rtsps://`` network streams, with a bounded open/read timeout and a low-delay jitter buffer.

OpenCV only says that an open failed. Why is told from how long it took and from a probe of our own:
a TCP connect to the server (nothing listening: refused; no answer: timed out; no such host) and, for
plain RTSP, a DESCRIBE of the URL, whose status line tells "no such stream" (404) or "needs credentials"
(401) from a server that answers but whose stream would not play.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from cnn2gnn.runtime.stream.gstreamer import rtsp_pipeline
from cnn2gnn.runtime.stream.opencv_build import opencv_has_gstreamer
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource
from cnn2gnn.runtime.stream.sources.video_capture import VideoCaptureSource, opencv

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
_PROBE_TIMEOUT_S = 2.0
_TIMED_OUT_SHARE = 0.9  # an open that took this share of --open-timeout ran into it


def rtsp_source(url: str, settings: CaptureSettings) -> FrameSource:
    """GStreamer's rtspsrc when OpenCV has it (its ``latency`` is the jitter buffer; ``decodebin`` uses the
    hardware decoder on a Jetson), else FFmpeg with the equivalent low-delay options."""
    hint = ": is the server up, and are the URL, port and credentials right?"

    def diagnose(elapsed_s: float) -> str:
        return rtsp_open_failure(url, elapsed_s, settings.open_timeout_s)

    if opencv_has_gstreamer(opencv()):
        pipeline = rtsp_pipeline(url, settings.rtsp_latency_ms, settings.rtsp_transport)
        return VideoCaptureSource(url, pipeline, "CAP_GSTREAMER", settings, live=True, hint=hint, diagnose=diagnose)
    options = (f"rtsp_transport;{settings.rtsp_transport}|max_delay;{settings.rtsp_latency_ms * 1000}"
               "|fflags;nobuffer|flags;low_delay")
    return VideoCaptureSource(url, url, "CAP_FFMPEG", settings, live=True, hint=hint, diagnose=diagnose,
                              env={"OPENCV_FFMPEG_CAPTURE_OPTIONS": options})


def rtsp_open_failure(url: str, elapsed_s: float, timeout_s: float) -> str:
    """Why opening ``url`` failed after ``elapsed_s``: the text that follows "URL did not open"."""
    if elapsed_s >= _TIMED_OUT_SHARE * timeout_s:
        return (f": timed out, no stream within {timeout_s:g} s (--open-timeout): is the server up and reachable, "
                "and the port right? A slow server or network needs a longer --open-timeout")
    parts = urlsplit(url)
    host, scheme = parts.hostname, parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 554)
    except ValueError:
        return f" after {elapsed_s:.1f} s: the port in the URL is not a number"
    if not host:
        return f" after {elapsed_s:.1f} s: the URL names no host (rtsp://HOST[:PORT]/PATH)"
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as conn:
            status = _describe_status(conn, url) if scheme == "rtsp" else None
    except ConnectionRefusedError:
        return (f" after {elapsed_s:.1f} s: connection refused by {where}: no RTSP server is listening there; "
                "is the server or camera up, and the port right?")
    except socket.gaierror:
        return f" after {elapsed_s:.1f} s: no such host {host!r}: check the address in the URL"
    except (TimeoutError, socket.timeout):
        return (f" after {elapsed_s:.1f} s: {where} does not answer (TCP connect timed out): is the host up and "
                "reachable, and no firewall in between?")
    except OSError as exc:
        return f" after {elapsed_s:.1f} s: cannot reach {where}: {exc.strerror or exc}"
    if status is None:
        return (f" after {elapsed_s:.1f} s: {where} accepts connections, but the stream did not open: are the path "
                "and credentials right, and is the stream's codec one OpenCV can decode?")
    if " 404" in status or " 454" in status:
        return (f" after {elapsed_s:.1f} s: no such stream: {where} answers, but says {status!r} for this path; "
                "check the path (the camera's manual lists its stream URLs)")
    if " 401" in status or " 403" in status:
        fix = "check them" if parts.username else "put them in the URL, rtsp://USER:PASSWORD@HOST/PATH"
        return f" after {elapsed_s:.1f} s: {where} refuses this stream ({status!r}), it needs credentials: {fix}"
    return (f" after {elapsed_s:.1f} s: {where} answers ({status!r}), but the stream did not open: is its codec "
            "one OpenCV can decode, and does --rtsp-transport udp/tcp suit the server?")


def _describe_status(conn: socket.socket, url: str) -> str | None:
    """The status line the server answers an RTSP DESCRIBE of ``url`` with, or None if it says nothing."""
    conn.sendall(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
                 "User-Agent: cnn2gnn\r\n\r\n".encode())
    try:
        reply = conn.recv(1024)
    except OSError:
        return None
    line = reply.split(b"\r\n", 1)[0].decode("latin-1").strip()
    return line if line.startswith("RTSP/") else None
