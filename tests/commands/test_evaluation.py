"""`cnn2gnn evaluate` of the artifact you ship: the exported .onnx measured like its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError

runner = CliRunner()


@pytest.fixture(scope="module")
def student_onnx(tiny_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    path = tmp_path_factory.mktemp("evaluate_onnx") / "student.onnx"
    onnx_from_checkpoint(tiny_student_ckpt, path, parity_samples=32, progress=False)
    return path


def _evaluate(*args: str) -> dict:
    result = runner.invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_onnx_scores_what_its_checkpoint_scores(tiny_student_ckpt: Path, student_onnx: Path) -> None:
    checkpoint = _evaluate(str(tiny_student_ckpt), "--device", "cpu")
    onnx = _evaluate(str(student_onnx))  # --data defaults to the dataset in the model's metadata
    assert onnx["data"] == checkpoint["data"] and onnx["split"] == "test"
    assert onnx["num_samples"] == checkpoint["num_samples"]
    assert abs(onnx["accuracy"] - checkpoint["accuracy"]) * onnx["num_samples"] <= 1  # within one image
    assert onnx["backend"] == "onnxruntime" and onnx["kind"] == "student" and onnx["precision"] == "fp32"
    assert set(checkpoint) - {"device"} <= set(onnx)  # the same report, plus which backend ran it
    differing = sum(abs(a - b) for row_a, row_b in zip(onnx["confusion_matrix"], checkpoint["confusion_matrix"])
                    for a, b in zip(row_a, row_b))
    assert differing <= 2  # one image moved from one cell to another at most


def test_the_onnx_report_has_a_plot_and_text(student_onnx: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(student_onnx), "--split", "val", "--plot", str(tmp_path / "cm.png")])
    assert result.exit_code == 0, result.output
    assert f"student {student_onnx} (onnxruntime) on digits [val]" in result.stdout
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cpu"], "--device applies to checkpoints"),
        (["--data", "cifar10:/nonexistent"], "cifar10"),
        (["--engine-cache", "x"], "--engine-cache applies to an .onnx model run with --backend tensorrt only"),
    ],
)
def test_options_that_do_not_fit_an_onnx_are_refused(student_onnx: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["evaluate", str(student_onnx), *args])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert message in str(result.exception)


def test_backend_options_are_refused_for_a_checkpoint(tiny_student_ckpt: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tiny_student_ckpt), "--backend", "onnxruntime"])
    assert result.exit_code == 1 and "for an .onnx model or an engine only" in str(result.exception)


def test_an_onnx_without_a_recorded_dataset_needs_data(tmp_path: Path) -> None:
    from tests.engine._onnx_models import tiny_metadata, write_linear_onnx

    model = write_linear_onnx(tmp_path / "linear.onnx", tiny_metadata())
    result = runner.invoke(app, ["evaluate", str(model)])
    assert result.exit_code == 1 and "pass --data SPEC" in str(result.exception)
    # 8x8 single-channel digits: the embedded set fits the tiny model's input
    report = _evaluate(str(model), "--data", "digits", "--split", "val")
    assert report["num_samples"] > 0 and 0.0 <= report["accuracy"] <= 1.0


@pytest.mark.parametrize("batch_size", ["0", "-3"])
def test_a_batch_size_below_one_is_refused_for_a_checkpoint_too(tiny_student_ckpt: Path, batch_size: str) -> None:
    result = runner.invoke(app, ["evaluate", str(tiny_student_ckpt), "--batch-size", batch_size])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert str(result.exception) == f"--batch-size must be >= 1, got {batch_size}"
