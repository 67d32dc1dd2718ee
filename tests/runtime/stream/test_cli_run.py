"""``cnn2gnn run`` as a user meets it: exit codes per failure class, --json, and Ctrl-C / SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app, main
from cnn2gnn.runtime.stream.exit_codes import EXIT_CODES
from tests.runtime.stream._media import read_video

REPO = Path(__file__).resolve().parents[3]


def cli(args: list[str], monkeypatch) -> int:
    monkeypatch.setattr(sys, "argv", ["cnn2gnn", *args])
    with pytest.raises(SystemExit) as caught:
        main()
    return caught.value.code


def test_help_documents_sources_and_every_exit_code():
    result = CliRunner().invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3} {meaning}".strip() in text
    for form in ("v4l2:///dev/videoN", "csi://N", "rtsp://", "file://PATH", "synthetic://"):
        assert form in text


@pytest.mark.parametrize("source, extra, code, message", [
    ("97", [], 3, "camera 97 did not open"),
    ("v4l2:///dev/video97", [], 3, "/dev/video97 does not exist"),
    ("{tmp}/missing.mp4", [], 3, "missing.mp4 does not exist"),
    ("{tmp}/fake.mp4", [], 3, "is it a video file"),
    ("rtsp://127.0.0.1:9/x", ["--open-timeout", "1"], 3, "connection refused by 127.0.0.1:9: no RTSP server"),
    ("synthetic://32x24?fps=0&live=0&stall_after=6", ["--stall-timeout", "0.3"], 4, "stalled: no frame for"),
    ("synthetic://32x24?fps=100&lose_after=6", ["--reconnect", "0"], 4, "stopped delivering frames after 6 frames"),
])
def test_each_failure_class_has_its_exit_code(source, extra, code, message, student_model, tmp_path, monkeypatch,
                                              capsys):
    (tmp_path / "fake.mp4").write_text("not a video")
    summary = tmp_path / "summary.json"
    got = cli(["run", str(student_model.path), source.format(tmp=tmp_path), "--summary", str(summary),
               "--status-every", "0", *extra], monkeypatch)
    captured = capsys.readouterr()
    assert got == code
    assert message in captured.err.split("error: ", 1)[1]
    written = json.loads(summary.read_text())
    assert written["exit_code"] == code and message in written["message"]
    if code == 4:  # every frame classified before the failure was reported
        records = [json.loads(line) for line in captured.out.splitlines()]
        frames = written["frames"]
        assert len(records) == frames["processed"] and frames["processed"] + frames["dropped"] == 6


def test_an_unwritable_output_is_exit_code_5(student_model, tmp_path, monkeypatch, capsys):
    (tmp_path / "a_file").write_text("")
    got = cli(["run", str(student_model.path), "synthetic://32x24?frames=3&fps=0&live=0", "--out",
               str(tmp_path / "a_file" / "frames.jsonl")], monkeypatch)
    assert got == 5 and "cannot write" in capsys.readouterr().err


def test_json_mode_ends_stdout_with_the_summary(student_model, tmp_path, monkeypatch, capsys):
    got = cli(["run", str(student_model.path), "synthetic://32x24?frames=300&fps=0&live=0", "--max-frames", "7",
               "--top-k", "2", "--json", "--status-every", "0"], monkeypatch)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert got == 0
    assert [r["index"] for r in lines[:-1]] == list(range(7)) and all(len(r["labels"]) == 2 for r in lines[:-1])
    summary = lines[-1]["summary"]
    assert summary["status"] == "max_frames" and summary["frames"]["processed"] == 7


@pytest.mark.parametrize("sig, code, status",
                         [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_stops_cleanly_and_finalises_every_file(sig, code, status, student_model, tmp_path):
    out, video, summary = tmp_path / "frames.jsonl", tmp_path / "annotated.avi", tmp_path / "summary.json"
    args = ["cnn2gnn", "run", str(student_model.path), "synthetic://96x64?fps=50", "--out", str(out), "--save",
            str(video), "--summary", str(summary), "--status-every", "0.2"]
    # torch and onnx are made unimportable: the whole run, start to finish, must not need them.
    code_text = (f"import sys\nsys.modules['torch'] = sys.modules['onnx'] = None\nfrom cnn2gnn.cli import main\n"
                 f"sys.argv = {args!r}\nmain()\n")
    proc = subprocess.Popen([sys.executable, "-c", code_text], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        seen = []
        for line in proc.stderr:  # wait until the stream is really running
            seen.append(line)
            status_line = re.match(r"(\d+) frames \|", line)
            if status_line and int(status_line.group(1)) >= 10:
                break
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
    stderr = "".join(seen) + rest
    assert proc.returncode == code, stderr
    report = json.loads(summary.read_text())
    assert report["status"] == status and report["exit_code"] == code
    records = [json.loads(line) for line in out.read_text().splitlines()]
    processed = report["frames"]["processed"]
    assert processed >= 10 and len(records) == processed == len(read_video(video)) == report["outputs"]["video_frames"]
    assert [r["index"] for r in records] == sorted({r["index"] for r in records})
    assert f"{status} (exit {code})" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.avi", "frames.jsonl", "summary.json"]


@pytest.mark.parametrize("option, value, message", [
    ("--batch", "0", "--batch must be >= 1 frame, got 0"),
    ("--batch", "-1", "--batch must be >= 1 frame, got -1"),
    ("--batch-wait-ms", "nan", "--batch-wait-ms must be a finite number >= 0, got nan"),
    ("--batch-wait-ms", "inf", "--batch-wait-ms must be a finite number >= 0, got inf"),
    ("--stall-timeout", "nan", "--stall-timeout must be >= 0 seconds (0: wait forever), got nan"),
    ("--reconnect", "nan", "--reconnect must be >= 0 seconds (0: give up at once), got nan"),
    ("--status-every", "nan", "--status-every must be >= 0 seconds (0: off), got nan"),
    ("--open-timeout", "nan", "--open-timeout must be a finite number > 0 seconds, got nan"),
    ("--open-timeout", "inf", "--open-timeout must be a finite number > 0 seconds, got inf"),
    ("--fps", "nan", "--fps must be a finite number > 0, got nan"),
    ("--fps", "inf", "--fps must be a finite number > 0, got inf"),
])
def test_out_of_range_settings_are_refused_before_the_run(option, value, message, student_model, monkeypatch,
                                                          capsys):
    got = cli(["run", str(student_model.path), "synthetic://32x24?frames=3&fps=0&live=0", option, value],
              monkeypatch)
    captured = capsys.readouterr()
    assert got == 1 and captured.err == f"error: {message}\n" and captured.out == ""


def test_infinity_means_never_where_a_setting_allows_never(student_model, monkeypatch, capsys):
    got = cli(["run", str(student_model.path), "synthetic://32x24?frames=3&fps=0&live=0", "--reconnect", "inf",
               "--stall-timeout", "inf", "--status-every", "inf"], monkeypatch)
    assert got == 0 and len(capsys.readouterr().out.splitlines()) == 3


# Frames of random noise barely compress: 60 of 96x64 take 110 KB (mp4v) to 1.3 MB (FFV1), so a 32 KiB file
# size limit (ulimit -f) cuts the video off mid-stream, as a full disk does, without needing root to fill one.
@pytest.mark.parametrize("suffix", [".mkv", ".avi", ".mp4"])
def test_a_video_cut_short_by_a_full_disk_is_not_saved_and_is_exit_code_5(suffix, student_model, tmp_path):
    video, summary = tmp_path / f"annotated{suffix}", tmp_path / "summary.json"
    args = ["cnn2gnn", "run", str(student_model.path), "synthetic://96x64?frames=60&fps=0&live=0", "--save",
            str(video), "--summary", str(summary), "--status-every", "0"]
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing the process.
    code_text = (f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, resource.RLIM_INFINITY))\n"
                 f"import sys\nfrom cnn2gnn.cli import main\nsys.argv = {args!r}\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code_text], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, proc.stderr
    error = proc.stderr.split("error: ", 1)[1]
    assert error.startswith(f"--save {video}: the video did not come out whole (") and "the disk may be full" in error
    assert len(proc.stdout.splitlines()) == 60  # every frame was classified: only the video failed
    report = json.loads(summary.read_text())
    assert report["status"] == "output_failed" and report["exit_code"] == 5 and report["outputs"]["video"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no video, not even a temporary file
