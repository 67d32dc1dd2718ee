"""benchmarks/bench_runtime.py on tiny real models: teacher, student and an ONNX Runtime Q/DQ student."""

import json
import subprocess
import sys
from pathlib import Path

from cnn2gnn.contracts.preprocessing import preprocess_images
from tests.runtime._onnx_models import quantized_copy

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_runtime.py"


def test_markdown_and_json_with_ratios(teacher_model, student_model, digits, tmp_path):
    calibration = preprocess_images(digits.train.images[:64], student_model.metadata.preprocessing)
    int8 = quantized_copy(student_model.path, tmp_path / "student.int8.onnx", calibration, student_model.metadata)
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--teacher", str(teacher_model.path), "--student", str(student_model.path),
         "--student-int8", str(int8), "--warmup", "2", "--iterations", "20", "--rounds", "4", "--threads", "1",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"teacher", "student", "student_int8"}
    assert report["results"]["student_int8"]["precision"] == "int8-qdq"
    assert report["results"]["teacher"]["input_shape"] == [3, 12, 12]
    assert all(r["iterations"] == 20 for r in report["results"].values())
    p50 = {role: r["latency_ms"]["p50"] for role, r in report["results"].items()}
    ratios = report["ratios"]
    assert ratios["student_over_teacher_p50"] == p50["student"] / p50["teacher"]
    assert ratios["int8_over_fp32_p50"] == p50["student_int8"] / p50["student"]
    table = proc.stdout
    assert "| teacher | fp32 | 3x12x12 |" in table and "| student_int8 | int8-qdq | 1x8x8 |" in table
    assert "- student_over_teacher_p50:" in table


def test_requires_a_model(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "at least one" in proc.stderr


def test_user_error_exits_1(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--student", str(tmp_path / "none.onnx")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
