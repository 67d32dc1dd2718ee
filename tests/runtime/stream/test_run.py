"""The stream loop end to end on real models: predictions, ordering, bounded queues, flat memory, clean ends."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from cnn2gnn.runtime.stream.crop import Crop
from cnn2gnn.runtime.stream.exit_codes import SOURCE_LOST, SourceLostError
from tests.runtime.stream._media import direct_predictions, enlarged, read_video, write_ffv1_video, write_png_folder


def run(model_path: Path, source: str, tmp_path: Path, backend_wrapper=None,
        **options) -> tuple[dict, list[dict], list[str]]:
    """Run the stream; returns (summary, JSON-line records, log lines)."""
    logs: list[str] = []
    out = tmp_path / "frames.jsonl"
    with load_backend(model_path) as backend:
        used = backend_wrapper(backend) if backend_wrapper else backend
        summary = run_stream(used, StreamConfig(source=source, out=out, status_every_s=0, **options), log=logs.append)
    return summary, [json.loads(line) for line in out.read_text().splitlines()], logs


def tinted(gray: np.ndarray) -> np.ndarray:
    """A colour (RGB) image from a gray digit, different in every channel, so colour order matters."""
    return np.stack([gray, 255 - gray, gray // 2], axis=2)


def known_images(digits, n: int) -> list[np.ndarray]:
    """Test digits: even positions gray (HxW), odd positions colour (RGB), all upscaled 4x."""
    return [enlarged(img) if i % 2 == 0 else enlarged(tinted(img)) for i, img in enumerate(digits.test.images[:n])]


@pytest.mark.parametrize("model_name", ["student_model", "teacher_model"])
def test_image_folder_predictions_equal_direct_backend_calls_exactly(model_name, request, digits, tmp_path):
    model = request.getfixturevalue(model_name)
    images = known_images(digits, 24)
    paths = write_png_folder(images, tmp_path / "frames")
    expected = direct_predictions(model.path, images, "RGB", top_k=3)

    for source in (str(tmp_path / "frames"), str(tmp_path / "frames" / "*.png")):
        summary, records, _ = run(model.path, source, tmp_path, top_k=3)
        assert summary["status"] == "completed" and summary["exit_code"] == 0
        assert summary["frames"] == {"captured": 24, "processed": 24, "dropped": 0, "unprocessed": 0}
        # Natural order: frame_2 before frame_10, every file once, in that order.
        assert [r["source"] for r in records] == [str(p) for p in paths]
        assert [r["index"] for r in records] == list(range(24))
        assert [(r["classes"], r["scores"]) for r in records] == expected
        assert all(r["labels"] == [model.metadata.class_names[c] for c in r["classes"]] for r in records)
    if model_name == "student_model":
        gray = range(0, 24, 2)  # the fitted gray model is meant for the gray digits
        accuracy = np.mean([records[i]["classes"][0] == digits.test.labels[i] for i in gray])
        assert accuracy >= 0.8


@pytest.mark.parametrize("batch", [1, 8])
def test_lossless_video_predictions_equal_direct_backend_calls(batch, student_model, teacher_model, digits, tmp_path):
    import cv2

    frames = [cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
              for img in known_images(digits, 40)]
    decoded = write_ffv1_video(frames, tmp_path / "digits.mkv")
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(decoded, frames)), \
        "FFV1 should be lossless in this OpenCV"

    for model in (student_model, teacher_model):
        expected = direct_predictions(model.path, frames, "BGR", top_k=2)
        summary, records, _ = run(model.path, f"file://{tmp_path / 'digits.mkv'}", tmp_path, top_k=2,
                                  batch_frames=batch, batch_wait_ms=50)
        assert summary["frames"]["processed"] == summary["frames"]["captured"] == 40
        assert summary["frames"]["dropped"] == 0 and summary["queue"]["policy"] == "block"
        assert [r["index"] for r in records] == list(range(40))
        assert [r["classes"] for r in records] == [classes for classes, _ in expected]
        if batch == 1:
            assert [r["scores"] for r in records] == [scores for _, scores in expected]
        else:  # one call for several frames may round differently in the last bit
            assert summary["mean_batch"] > 1
            np.testing.assert_allclose([r["scores"] for r in records], [s for _, s in expected], rtol=1e-5)


def test_crop_is_applied_before_preprocessing(student_model, digits, tmp_path):
    import cv2

    # Each frame: the digit placed at (x=40, y=10) on a 96x64 canvas of noise.
    rng = np.random.default_rng(0)
    frames, crops = [], []
    for img in digits.test.images[:10]:
        canvas = rng.integers(0, 256, (64, 96), dtype=np.uint8)
        canvas[10:42, 40:72] = enlarged(img)
        frames.append(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))
        crops.append(frames[-1][10:42, 40:72])
    write_ffv1_video(frames, tmp_path / "canvas.mkv")
    _, records, _ = run(student_model.path, str(tmp_path / "canvas.mkv"), tmp_path, top_k=1,
                        crop=Crop(roi=(40, 10, 32, 32)))
    assert [(r["classes"], r["scores"]) for r in records] == direct_predictions(student_model.path, crops, "BGR", 1)
    side = round(0.8 * 64)  # a centred square, 0.8 of the shorter side
    y, x = (64 - side) // 2, (96 - side) // 2
    centre = [f[y : y + side, x : x + side] for f in frames]
    _, records, _ = run(student_model.path, str(tmp_path / "canvas.mkv"), tmp_path, top_k=1, crop=Crop(center=0.8))
    assert [(r["classes"], r["scores"]) for r in records] == direct_predictions(student_model.path, centre, "BGR", 1)


class SlowRunner(Runner):
    """The real model behind a fixed delay per call: the subject here is the queue, not the model."""

    def __init__(self, backend: Runner, delay_s: float) -> None:
        self.inner, self.delay_s = backend, delay_s
        self.name, self.path, self.metadata = backend.name, backend.path, backend.metadata

    def infer(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(self.delay_s)
        return self.inner.infer(batch)


@pytest.mark.parametrize("policy", ["drop-oldest", "drop-newest"])
def test_a_slow_model_on_a_live_source_drops_frames_but_never_overfills_the_queue(policy, student_model, tmp_path):
    delay, queue = 0.02, 3
    summary, records, _ = run(student_model.path, "synthetic://64x48?frames=160&fps=200&live=1", tmp_path,
                              backend_wrapper=lambda b: SlowRunner(b, delay), queue_size=queue, drop_policy=policy)
    frames = summary["frames"]
    assert summary["queue"]["high_water"] <= queue
    assert frames["captured"] == 160
    assert frames["dropped"] >= 60  # ~200 fps in, < 50 fps out
    assert frames["processed"] + frames["dropped"] + frames["unprocessed"] == 160
    assert len(records) == frames["processed"]
    indices = [r["index"] for r in records]
    assert indices == sorted(set(indices))  # in order, none twice; the gaps are the drops
    if policy == "drop-oldest":
        # Latency stays bounded by the queue: at most `queue` frames wait ahead of any frame.
        assert max(r["latency_ms"] for r in records) < (queue + 2) * delay * 1e3 + 60
        assert indices[-1] >= 150  # the freshest frames were kept
    else:
        assert indices[: queue + 1] == list(range(queue + 1))  # the queued (oldest) frames were kept


def test_without_drops_the_same_slow_model_falls_behind(student_model, tmp_path):
    """The contrast: with the block policy nothing is dropped and latency grows with the backlog."""
    delay = 0.02
    summary, records, _ = run(student_model.path, "synthetic://64x48?frames=50&fps=200&live=1", tmp_path,
                              backend_wrapper=lambda b: SlowRunner(b, delay), queue_size=3, drop_policy="block")
    assert summary["frames"]["dropped"] == 0 and len(records) == 50
    assert [r["index"] for r in records] == list(range(50))
    assert summary["queue"]["high_water"] <= 3


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_stays_flat_over_a_long_stream(student_model, tmp_path):
    samples: dict[int, int] = {}

    def sample(stats) -> None:
        if stats.processed in (500, 3000):
            samples[stats.processed] = _rss_kib()

    with load_backend(student_model.path) as backend:
        summary = run_stream(backend, StreamConfig(source="synthetic://160x120?frames=3000&fps=0&live=0",
                                                   out=tmp_path / "f.jsonl", status_every_s=0),
                             log=lambda m: None, on_batch=sample)
    assert summary["frames"]["processed"] == 3000
    growth_mib = (samples[3000] - samples[500]) / 1024
    assert growth_mib < 1.5, f"RSS grew {growth_mib:.2f} MiB over 2500 frames"


def test_a_stalled_source_ends_with_exit_code_4_and_everything_flushed(student_model, tmp_path):
    out, video, summary_path = tmp_path / "f.jsonl", tmp_path / "v.avi", tmp_path / "s.json"
    config = StreamConfig(source="synthetic://64x48?fps=0&live=0&stall_after=25", out=out, save=video,
                          summary=summary_path, stall_timeout_s=0.5, status_every_s=0)
    start = time.perf_counter()
    with load_backend(student_model.path) as backend, pytest.raises(SourceLostError, match="stalled") as caught:
        run_stream(backend, config, log=lambda m: None)
    assert time.perf_counter() - start < 5
    assert caught.value.exit_code == SOURCE_LOST == 4
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "source_lost" and summary["exit_code"] == 4 and "stalled" in summary["message"]
    assert summary["frames"]["processed"] == 25
    assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == list(range(25))
    assert len(read_video(video)) == 25
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.jsonl", "s.json", "v.avi"]  # no temporary files left


def test_a_lost_live_source_is_retried_then_ends_with_exit_code_4(student_model, tmp_path):
    start = time.perf_counter()
    with pytest.raises(SourceLostError, match="did not come back within 1 s") as caught:
        run(student_model.path, "synthetic://64x48?fps=100&lose_after=12", tmp_path, reconnect_s=1.0)
    assert 0.9 < time.perf_counter() - start < 6
    assert caught.value.summary["frames"]["processed"] + caught.value.summary["frames"]["dropped"] == 12
    assert len((tmp_path / "frames.jsonl").read_text().splitlines()) == caught.value.summary["frames"]["processed"]


def test_the_stop_event_ends_an_endless_stream_cleanly(student_model, tmp_path):
    stop = threading.Event()
    timer = threading.Timer(0.8, stop.set)
    with load_backend(student_model.path) as backend:
        timer.start()
        summary = run_stream(backend, StreamConfig(source="synthetic://64x48?fps=50", out=tmp_path / "f.jsonl",
                                                   save=tmp_path / "v.avi", status_every_s=0),
                             stop=stop, log=lambda m: None)
    assert summary["status"] == "stopped" and summary["exit_code"] == 0
    processed = summary["frames"]["processed"]
    assert processed >= 10
    assert len((tmp_path / "f.jsonl").read_text().splitlines()) == processed == len(read_video(tmp_path / "v.avi"))


def test_show_without_a_display_says_why_and_keeps_running(student_model, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    summary, records, logs = run(student_model.path, "synthetic://64x48?frames=5&fps=0&live=0", tmp_path, show=True)
    assert len(records) == 5 and summary["status"] == "completed"
    assert any(line.startswith("--show: ") and "running without a window" in line for line in logs)
    assert summary["outputs"]["window"].startswith("--show: ")
