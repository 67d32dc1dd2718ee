"""``cnn2gnn calibrate`` on the command line: help without heavy imports, --json that parses, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cnn2gnn.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(app, ["calibrate", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--num-images", "--method", "--quantize-graph", "--calibration-set", "--report",
                   "--seed", "--json"):
        assert option in result.stdout


def test_help_imports_no_heavy_module() -> None:
    probe = ("import sys; from typer.testing import CliRunner; from cnn2gnn.cli import app; "
             "r = CliRunner().invoke(app, ['calibrate', '--help']); assert r.exit_code == 0; "
             "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch', 'cv2') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_json_output_is_one_parseable_document(tiny_student_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.int8.onnx"
    result = CliRunner().invoke(app, ["calibrate", str(tiny_student_onnx), "-o", str(out), "--num-images", "64",
                                      "--method", "percentile", "--latency-iterations", "2", "--json"])
    assert result.exit_code == 0, (result.stdout, result.exception)
    report = json.loads(result.stdout)  # ONNX Runtime's own progress prints must not land on stdout
    assert report["calibration"]["method"] == "percentile" and report["output"] == str(out)
    assert Path(report["report"]).is_file() and out.is_file()


def test_readable_output_has_the_comparison_table(tiny_student_onnx: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["calibrate", str(tiny_student_onnx), "-o", str(tmp_path / "s.int8.onnx"),
                                      "--num-images", "64", "--latency-iterations", "2",
                                      "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.exception
    for text in ("top-1 agreement", "neighbour agreement", "mean |Δlogit|", "int8 speed-up", "report: "):
        assert text in result.stdout
    assert (tmp_path / "r.json").is_file()


def test_user_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "cnn2gnn.cli", "calibrate", "missing.onnx", "-o", "out.onnx"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ONNX model missing.onnx does not exist") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.onnx").exists()
