"""`cnn2gnn bench` and `cnn2gnn compare` end to end on tiny real models."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError

runner = CliRunner()


def test_bench_json(student_model):
    result = runner.invoke(app, ["bench", str(student_model.path), "--batch-sizes", "1,3", "--warmup", "1",
                                 "--iterations", "4", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["batch_size"] for r in report["results"]] == [1, 3]
    assert all(r["iterations"] == 4 and r["latency_ms"]["p50"] > 0 for r in report["results"])
    assert report["providers"] == ["CPUExecutionProvider"]
    assert report["threads"] == 1


@pytest.mark.parametrize(("args", "threads"), [([], 2), (["--threads", "1"], 1)])
def test_bench_takes_omp_num_threads_unless_threads_is_given(student_model, monkeypatch, args, threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    result = runner.invoke(app, ["bench", str(student_model.path), "--batch-sizes", "1", "--warmup", "0",
                                 "--iterations", "2", "--json", *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["threads"] == threads


def test_bench_without_omp_num_threads_states_the_default(student_model, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    result = runner.invoke(app, ["bench", str(student_model.path), "--batch-sizes", "1", "--warmup", "0",
                                 "--iterations", "2"])
    assert result.exit_code == 0, result.output
    assert "threads default (one per physical core)" in result.stdout


def test_bench_table_for_a_duration(student_model):
    result = runner.invoke(app, ["bench", str(student_model.path), "--batch-sizes", "2", "--warmup-seconds", "0.01",
                                 "--duration", "0.05"])
    assert result.exit_code == 0, result.output
    assert "images/s" in result.stdout and str(student_model.path) in result.stdout


@pytest.mark.parametrize("bad", ["1,x", "0", ""])
def test_bench_rejects_bad_batch_sizes(student_model, bad):
    result = runner.invoke(app, ["bench", str(student_model.path), "--batch-sizes", bad])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert str(result.exception) == f"--batch-sizes takes comma-separated positive integers, e.g. 1,8,64; got {bad!r}"


def test_bench_threads_only_for_onnxruntime(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    result = runner.invoke(app, ["bench", str(engine), "--threads", "2"])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert "onnxruntime backend only" in str(result.exception)


def test_compare_teacher_and_student_on_digits(teacher_model, student_model):
    result = runner.invoke(app, ["compare", str(teacher_model.path), str(student_model.path), "--data", "digits",
                                 "--split", "val", "--limit", "60", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 60 and report["split"] == "val"
    assert report["model_a"]["kind"] == "teacher" and report["model_b"]["kind"] == "student"
    assert 0.7 < report["model_a"]["accuracy"] <= 1 and 0.7 < report["model_b"]["accuracy"] <= 1


def test_compare_readable_output(student_model):
    result = runner.invoke(app, ["compare", str(student_model.path), str(student_model.path), "--data", "digits",
                                 "--limit", "10"])
    assert result.exit_code == 0, result.output
    assert "top-1 agreement 1.0000 (0 differ)" in result.stdout


def test_user_errors_print_one_line_and_exit_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnn2gnn.cli", "bench", str(tmp_path / "missing.onnx")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: model file {tmp_path / 'missing.onnx'} does not exist"


def test_compare_takes_the_first_n_images_of_a_split_and_refuses_a_limit_below_1(student_model):
    result = runner.invoke(app, ["compare", str(student_model.path), str(student_model.path), "--data", "digits",
                                 "--split", "val", "--limit", "12", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 12
    result = runner.invoke(app, ["compare", str(student_model.path), str(student_model.path), "--data", "digits",
                                 "--limit", "0"])
    assert result.exit_code == 1 and str(result.exception) == "--limit must be >= 1, got 0"
