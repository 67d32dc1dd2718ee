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
                   "--seed", "--max-drop", "--min-agreement", "--min-neighbour-agreement", "--allow-over-budget",
                   "--json"):
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


def test_an_impossible_budget_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    from tests.calibration._planted_models import write_all_sensitive

    model = write_all_sensitive(tmp_path / "in" / "all.onnx")
    out = tmp_path / "out"
    out.mkdir()
    for extra in ([], ["--min-agreement", "1.01"]):
        proc = subprocess.run([sys.executable, "-m", "cnn2gnn.cli", "calibrate", str(model), "-o",
                               str(out / "all.int8.onnx"), "--num-images", "64", "--latency-iterations", "2", *extra],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert proc.returncode == 1, proc.stderr
        message = proc.stderr.strip().splitlines()[-1]  # after the progress bars
        assert message.startswith("error: ") and "Traceback" not in proc.stderr
        assert ("no INT8 configuration meets the accuracy budget" if not extra else "is a fraction") in message
        assert list(out.iterdir()) == []


def test_budget_options_reach_the_report(tmp_path: Path) -> None:
    from tests.calibration._planted_models import write_planted_chain

    model = write_planted_chain(tmp_path / "chain.onnx")
    result = CliRunner().invoke(app, ["calibrate", str(model), "-o", str(tmp_path / "c.int8.onnx"), "--num-images",
                                      "64", "--latency-iterations", "2", "--max-drop", "1", "--min-agreement", "0.98",
                                      "--json"])
    assert result.exit_code == 0, (result.stdout, result.exception)
    report = json.loads(result.stdout)
    assert report["accuracy_budget"]["max_drop_points"] == 1 and report["accuracy_budget"]["min_top1_agreement"] == 0.98
    assert report["accuracy_budget"]["float_nodes"] == ["sensitive"] and report["over_budget"] is False
