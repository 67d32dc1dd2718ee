"""Many cameras, one model: several live sources of different rates through one run, batched together,
each with its own queue and statistics; a source that dies is reported and the others keep running."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.cli import main
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from cnn2gnn.runtime.stream.exit_codes import SOURCE_LOST, SOURCE_OPEN_FAILED, SourceLostError, SourceOpenError

SINGLE_RECORD_KEYS = {"index", "timestamp", "source", "labels", "scores", "classes", "latency_ms"}


class PacedRunner(Runner):
    """The real model behind a fixed delay per call, optionally with a max batch, as an engine has."""

    def __init__(self, backend: Runner, delay_s: float, max_batch: int | None = None) -> None:
        self.inner, self.delay_s, self._max_batch = backend, delay_s, max_batch
        self.name, self.path, self.metadata = backend.name, backend.path, backend.metadata
        self.batch_sizes: list[int] = []

    @property
    def max_batch(self) -> int | None:
        return self._max_batch

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(batch))
        time.sleep(self.delay_s)
        return self.inner.infer(batch)


def run_many(model: Path, sources: list[str], tmp_path: Path, delay_s: float = 0.0, max_batch: int | None = None,
             **options):
    """(summary, records, logs, runner); a run that fails returns the summary its error carries."""
    logs: list[str] = []
    out = tmp_path / "frames.jsonl"
    with load_backend(model) as backend:
        runner = PacedRunner(backend, delay_s, max_batch)
        try:
            summary = run_stream(runner, StreamConfig(source=tuple(sources), out=out, status_every_s=0.3, **options),
                                 log=logs.append)
        except (SourceLostError, SourceOpenError) as exc:
            summary = exc.summary
            summary["raised"] = type(exc).__name__
    return summary, [json.loads(line) for line in out.read_text().splitlines()], logs, runner


def test_live_sources_of_different_rates_share_batches_and_a_dying_one_leaves_the_others_running(
        student_model, tmp_path):
    sources = ["synthetic://64x48?frames=150&fps=100&seed=1",  # 1.5 s each
               "synthetic://64x48?frames=60&fps=40&seed=2",
               "synthetic://64x48?frames=23&fps=15&seed=3",
               "synthetic://64x48?fps=50&lose_after=20&seed=4"]  # unplugged after 0.4 s
    start = time.perf_counter()
    summary, records, logs, runner = run_many(student_model.path, sources, tmp_path, delay_s=0.008, reconnect_s=0.3)
    assert time.perf_counter() - start < 10

    assert summary["raised"] == "SourceLostError" and summary["exit_code"] == SOURCE_LOST
    assert summary["status"] == "source_lost" and summary["message"].startswith("1 of 4 sources failed: [3] ")
    per_source = summary["sources"]
    assert [s["status"] for s in per_source] == ["completed", "completed", "completed", "lost"]
    assert [s["frames"]["captured"] for s in per_source] == [150, 60, 23, 20]
    for s in per_source:
        f = s["frames"]
        assert f["processed"] + f["dropped"] + f["unprocessed"] == f["captured"] and f["unprocessed"] == 0
        assert s["fps"] > 0 and s["latency_ms"]["p50"] is not None
    assert per_source[0]["fps"] > 2 * per_source[2]["fps"]  # each source's rate is its own
    assert summary["frames"]["processed"] == sum(s["frames"]["processed"] for s in per_source) == len(records)

    # Every line says its source; indices count per source, in order, gaps being drops.
    assert all(set(r) == SINGLE_RECORD_KEYS | {"source_id"} for r in records)
    for i, s in enumerate(per_source):
        indices = [r["index"] for r in records if r["source_id"] == i]
        assert indices == sorted(set(indices)) and len(indices) == s["frames"]["processed"]
        assert all(r["source"] == s["description"] for r in records if r["source_id"] == i)
    # The loss was reported at once and the others kept delivering well after it.
    lost_at = max(r["timestamp"] for r in records if r["source_id"] == 3)
    assert max(r["timestamp"] for r in records if r["source_id"] == 0) > lost_at + 0.5
    assert any(line.startswith("[3] ") and "lost" in line and "3 source(s) still running" in line for line in logs)
    # One model, frames of several cameras per call, up to the number of sources.
    assert summary["batching"]["max_frames"] == 4 and max(runner.batch_sizes[1:]) > 1
    assert max(runner.batch_sizes) <= 4 and summary["mean_batch"] > 1
    assert any(" | [0] " in line and "[3] lost" in line for line in logs)  # the status line, per source


def test_a_slow_camera_does_not_delay_a_fast_one(student_model, tmp_path):
    summary, records, _, _ = run_many(student_model.path, ["synthetic://64x48?frames=100&fps=100",
                                                           "synthetic://64x48?frames=4&fps=3"], tmp_path)
    assert summary["status"] == "completed" and summary["exit_code"] == 0
    fast, slow = summary["sources"]
    assert fast["frames"]["processed"] + fast["frames"]["dropped"] == 100
    assert fast["latency_ms"]["p50"] < 40  # never waits for the 3 fps camera's frames
    assert slow["frames"]["processed"] == 4


def test_the_models_max_batch_caps_the_batch(student_model, tmp_path):
    summary, _, _, runner = run_many(student_model.path, [f"synthetic://32x24?frames=40&fps=200&seed={i}"
                                                          for i in range(4)], tmp_path, delay_s=0.01, max_batch=2)
    assert summary["batching"]["max_frames"] == 2 and max(runner.batch_sizes) == 2


def test_a_source_that_does_not_open_is_left_out_and_the_exit_code_says_so(student_model, tmp_path):
    summary, records, logs, _ = run_many(student_model.path, ["synthetic://32x24?frames=10&fps=100",
                                                              str(tmp_path / "missing.mp4")], tmp_path)
    assert summary["raised"] == "SourceOpenError" and summary["exit_code"] == SOURCE_OPEN_FAILED
    assert [s["status"] for s in summary["sources"]] == ["completed", "open_failed"]
    assert len(records) == summary["sources"][0]["frames"]["processed"] > 0
    assert any(line.startswith("[1] ") and "left out" in line for line in logs)


def test_a_single_source_keeps_its_output_unchanged(student_model, tmp_path):
    with load_backend(student_model.path) as backend:
        summary = run_stream(backend, StreamConfig(source="synthetic://32x24?frames=5&fps=0&live=0",
                                                   out=tmp_path / "f.jsonl", status_every_s=0), log=lambda m: None)
    records = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert all(set(r) == SINGLE_RECORD_KEYS for r in records)
    assert "sources" not in summary and summary["source"]["spec"].startswith("synthetic://")
    assert summary["batching"]["max_frames"] == 1


def cli(args: list[str], monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", ["cnn2gnn", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    return caught.value.code


def test_the_cli_takes_several_sources_and_a_sources_file(student_model, tmp_path, monkeypatch, capsys):
    listing = tmp_path / "cameras.txt"
    listing.write_text("# lab cameras\nsynthetic://32x24?frames=6&fps=0&live=0&seed=2\n\n")
    got = cli(["run", str(student_model.path), "synthetic://32x24?frames=4&fps=0&live=0", "--sources", str(listing),
               "--json", "--status-every", "0"], monkeypatch)
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert got == 0
    summary = lines[-1]["summary"]
    assert [s["frames"]["processed"] for s in summary["sources"]] == [4, 6]
    assert sorted(r["source_id"] for r in lines[:-1]) == [0] * 4 + [1] * 6
    assert "  [1] synthetic://32x24?frames=6" in captured.err  # the per-source lines of the summary


@pytest.mark.parametrize("extra, message", [(["--save", "{tmp}/v.avi"], "--save / --show take one source"),
                                            (["--sources", "{tmp}/none.txt"], "--sources"),
                                            (["--sources", "{tmp}/empty.txt"], "names no source"),
                                            (["--sources", "{tmp}/model.onnx"], "must be a UTF-8 text file")])
def test_the_cli_refuses_what_several_sources_cannot_do(extra, message, student_model, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty.txt").write_text("# nothing\n")
    (tmp_path / "model.onnx").write_bytes(student_model.path.read_bytes())  # given for the list by mistake
    got = cli(["run", str(student_model.path), "synthetic://32x24?frames=2", "synthetic://32x24?frames=2",
               *[a.format(tmp=tmp_path) for a in extra]], monkeypatch)
    assert got == 1 and message in capsys.readouterr().err
