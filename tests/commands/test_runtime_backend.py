"""`--backend tensorrt` with an .onnx model: build on first run, and clear refusals where it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available
from tests.engine._onnx_models import tiny_metadata, write_linear_onnx

runner = CliRunner()


@pytest.fixture
def onnx(tmp_path: Path) -> Path:
    return write_linear_onnx(tmp_path / "linear.onnx", tiny_metadata())


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
@pytest.mark.parametrize("command", [["bench"], ["run"], ["evaluate"], ["compare"]])
def test_without_tensorrt_each_command_says_so(onnx: Path, command: list[str]) -> None:
    args = {"bench": [str(onnx), "--backend", "tensorrt"], "run": [str(onnx), "synthetic:", "--backend", "tensorrt"],
            "evaluate": [str(onnx), "--data", "digits", "--backend", "tensorrt"],
            "compare": [str(onnx), str(onnx), "--data", "digits", "--backend-b", "tensorrt"]}[command[0]]
    result = runner.invoke(app, [*command, *args])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError), result.output
    text = str(result.exception)
    assert f"--backend tensorrt builds an engine from {onnx} on first use" in text
    assert "TensorRT is not installed" in text and "--backend onnxruntime" in text


def test_a_missing_onnx_is_named_before_tensorrt_is_looked_for(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", str(tmp_path / "nope.onnx"), "--backend", "tensorrt"])
    assert result.exit_code == 1 and "nope.onnx does not exist" in str(result.exception)


def test_engine_options_need_the_tensorrt_backend(onnx: Path) -> None:
    result = runner.invoke(app, ["bench", str(onnx), "--engine-precision", "fp16"])
    assert result.exit_code == 1
    assert "--engine-precision applies to an .onnx model run with --backend tensorrt only" in str(result.exception)


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
def test_compare_gives_the_engine_options_to_the_model_run_as_an_engine(onnx: Path, tmp_path: Path) -> None:
    # ONNX Runtime against TensorRT of one .onnx: model A on ONNX Runtime must not be refused for --engine-cache.
    result = runner.invoke(app, ["compare", str(onnx), str(onnx), "--data", "digits", "--backend-b", "tensorrt",
                                 "--engine-cache", str(tmp_path / "engines"), "--engine-precision", "fp16"])
    assert result.exit_code == 1 and "TensorRT is not installed" in str(result.exception), result.output


def test_compare_refuses_engine_options_when_neither_model_builds_an_engine(onnx: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(onnx), str(onnx), "--data", "digits",
                                 "--engine-cache", str(tmp_path / "engines")])
    assert result.exit_code == 1
    assert ("--engine-cache applies to an .onnx model run with --backend-a or --backend-b tensorrt only"
            in str(result.exception))
