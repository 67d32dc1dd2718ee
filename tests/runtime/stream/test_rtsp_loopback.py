"""RTSP for real: GStreamer's RTSP server on 127.0.0.1 (its own process, see rtsp_server_process.py) and
``run`` reading from it through this OpenCV (FFmpeg in the pip wheel, GStreamer where built in).

Skipped, saying which packages are missing, where the server cannot run; never faked.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings
from cnn2gnn.runtime.stream.sources.registry import source_from_spec
from tests.runtime.stream._media import enlarged, write_png_folder
from tests.runtime.stream._rtsp_server import RtspServer, server_missing

_MISSING = server_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))
CLOCK_SIDE = 128
FRAMES = 40  # the digits loop: frame i of the stream is frame i % FRAMES of the folder


@pytest.fixture(scope="module")
def digit_frames(digits, tmp_path_factory) -> Path:
    """40 gray test digits, enlarged 8x to 64x64 (a size H.264 handles comfortably)."""
    folder = tmp_path_factory.mktemp("rtsp_frames")
    write_png_folder([enlarged(image, 8) for image in digits.test.images[:FRAMES]], folder)
    return folder


def _run(model: Path, source: str, out: Path, **options) -> tuple[dict, list[dict]]:
    with load_backend(model) as backend:
        summary = run_stream(backend, StreamConfig(source=source, out=out, status_every_s=0, top_k=2, **options),
                             log=lambda message: None, handle_signals=False)
    return summary, [json.loads(line) for line in out.read_text().splitlines()]


def test_frames_from_rtsp_are_classified_as_from_the_file(student_model, digit_frames, tmp_path):
    _, reference = _run(student_model.path, str(digit_frames), tmp_path / "file.jsonl")
    with RtspServer(digit_frames, lifetime_s=30) as server:
        summary, streamed = _run(student_model.path, server.url("digits"), tmp_path / "rtsp.jsonl", max_frames=60,
                                 capture=CaptureSettings(open_timeout_s=10))
    assert summary["status"] == "max_frames" and summary["source"]["live"]
    assert summary["source"]["width"] == summary["source"]["height"] == 64
    assert len(streamed) == 60  # more than one loop of the 40 frames
    # The server plays the loop from when it set the stream up, so a client joins somewhere in it (as with a
    # camera); an index counts every frame the stream delivered, drops too. Where it joined is the offset at
    # which the streamed classes line up with the file's: then frame i of the stream is the file's frame
    # (i + offset) % 40.
    def agreement(offset: int) -> float:
        return float(np.mean([r["classes"][0] == reference[(r["index"] + offset) % FRAMES]["classes"][0]
                              for r in streamed]))

    offset = max(range(FRAMES), key=agreement)
    pairs = [(r, reference[(r["index"] + offset) % FRAMES]) for r in streamed]
    # Lossless H.264 (4:4:4, quantiser 0) of gray frames: only the RGB<->YUV round trip differs, by a level
    # or two, so every frame the model classifies with a clear margin gets the same class, nearly all frames
    # do, and the scores agree closely.
    confident = [(r, f) for r, f in pairs if f["scores"][0] - f["scores"][1] > 0.05]
    assert len(confident) >= 30
    assert all(r["classes"][0] == f["classes"][0] for r, f in confident)
    assert agreement(offset) >= 0.95
    np.testing.assert_allclose([r["scores"][0] for r, _ in pairs], [f["scores"][0] for _, f in pairs], atol=0.03)


def _clock_ms(frame: np.ndarray) -> int:
    gray = frame[..., 1] if frame.ndim == 3 else frame
    bits = gray[:CLOCK_SIDE, :CLOCK_SIDE].reshape(8, 16, 8, 16).mean(axis=(1, 3)) > 128
    return sum(1 << (by * 8 + bx) for by in range(8) for bx in range(8) if bits[by, bx])


def _sender_to_reader_ms(url: str, latency_ms: int, seconds: float) -> list[float]:
    """Latency of each frame from the server's send time (coded in the frame) to our read, after 1 s of warm-up
    (the server starts sending before the client plays: the first frames are a backlog being caught up)."""
    source = source_from_spec(url, CaptureSettings(open_timeout_s=10, rtsp_latency_ms=latency_ms))
    source.open()
    try:
        start, samples = time.perf_counter(), []
        while time.perf_counter() - start < seconds:
            got = source.read()
            assert got is not None, "the stream broke"
            if time.perf_counter() - start > 1.0:
                samples.append(time.time() * 1000 - _clock_ms(got[0]))
    finally:
        source.close()
    return samples


def test_rtsp_latency_low_vs_default_is_reported_and_does_not_grow(digit_frames, capsys):
    results = {}
    with RtspServer(digit_frames, lifetime_s=30) as server:
        for label, latency in (("--rtsp-latency 0", 0), ("--rtsp-latency 200 (default)", 200)):
            samples = _sender_to_reader_ms(server.url("clock"), latency, seconds=5.0)
            third = len(samples) // 3
            results[label] = {"p50": float(np.median(samples)), "max": float(np.max(samples)),
                              "first_third_p50": float(np.median(samples[:third])),
                              "last_third_p50": float(np.median(samples[-third:])), "frames": len(samples)}
    with capsys.disabled():
        print("\nRTSP sender-to-reader latency over loopback, ms: " + json.dumps(results, sort_keys=True))
    for label, numbers in results.items():
        assert numbers["frames"] >= 50, label  # ~25 fps for 4 s
        assert numbers["p50"] < 500, label
        assert numbers["last_third_p50"] < numbers["first_third_p50"] + 100, f"{label}: latency grows: {numbers}"


def test_a_missing_stream_on_a_live_server_is_no_such_stream(digit_frames):
    with RtspServer(digit_frames, lifetime_s=20) as server:
        start = time.perf_counter()
        with pytest.raises(SourceOpenError, match=r"no such stream: 127.0.0.1:\d+ answers, but says "
                                                  r"'RTSP/1.0 404 Not Found'"):
            source_from_spec(server.url("nope"), CaptureSettings(open_timeout_s=5)).open()
        assert time.perf_counter() - start < 4


def test_run_reconnects_after_the_server_stops_and_restarts(student_model, digit_frames, tmp_path):
    server = RtspServer(digit_frames, lifetime_s=40)
    server.start()
    stop, processed = threading.Event(), []
    restarted_at: list[int] = []

    def restart_then_stop() -> None:
        deadline = time.perf_counter() + 25
        while len(processed) < 1 or processed[-1] < 15:
            if time.perf_counter() > deadline:
                stop.set()
                return
            time.sleep(0.05)
        server.stop()  # the publisher goes away mid-stream
        time.sleep(1.5)
        server.start()  # and comes back on the same port
        restarted_at.append(processed[-1])
        while processed[-1] < restarted_at[0] + 15 and time.perf_counter() < deadline:
            time.sleep(0.05)
        stop.set()

    helper = threading.Thread(target=restart_then_stop, daemon=True)
    try:
        with load_backend(student_model.path) as backend:
            helper.start()
            summary = run_stream(backend, StreamConfig(source=server.url("digits"), out=tmp_path / "f.jsonl",
                                                       capture=CaptureSettings(open_timeout_s=3), reconnect_s=15,
                                                       status_every_s=0),
                                 stop=stop, log=lambda message: None, on_batch=lambda s: processed.append(s.processed),
                                 handle_signals=False)
    finally:
        stop.set()
        helper.join(30)
        server.stop()
    assert summary["status"] == "stopped" and summary["reconnects"] >= 1
    assert restarted_at and summary["frames"]["processed"] >= restarted_at[0] + 15  # frames after the restart
