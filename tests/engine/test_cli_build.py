import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available
from tests.engine._heavy_imports import heavy_modules_after_cli


def test_help_lists_the_options():
    result = CliRunner().invoke(app, ["build", "--help"])
    assert result.exit_code == 0
    for option in (
        "--precision",
        "--min-batch",
        "--opt-batch",
        "--max-batch",
        "--workspace-mib",
        "--timing-cache",
        "--dla-core",
        "--version-compatible",
        "--hardware-compatible",
        "--calibration-set",
        "--calibration-cache",
        "--triton-repo",
        "--force",
        "--json",
    ):
        assert option in result.output


@pytest.mark.parametrize("option", [["--workspace-mib", "0"], ["--calibration-batch", "0"]])
def test_bad_option_values_are_user_errors(option, linear_onnx):
    result = CliRunner().invoke(app, ["build", str(linear_onnx), *option])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert str(result.exception) == f"{option[0]} must be at least 1, got 0"


def test_help_and_a_failed_build_import_nothing_heavy(tmp_path):
    assert heavy_modules_after_cli([["build", "--help"], ["build", str(tmp_path / "x.onnx")]]) == []


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
def test_build_without_tensorrt_exits_1_with_the_install_message(linear_onnx):
    # A valid model: the input is checked before TensorRT (test_bad_input_models), so a bad one would fail first.
    result = subprocess.run(
        [sys.executable, "-m", "cnn2gnn.cli", "build", str(linear_onnx), "--precision", "fp16"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: TensorRT is not installed")
    assert "python3-libnvinfer" in result.stderr and "pip install tensorrt" in result.stderr
    assert "Traceback" not in result.stderr


def test_summary_and_json_of_a_build_result(tmp_path):
    from cnn2gnn.commands.engine import build_summary
    from cnn2gnn.contracts.trt_version import parse_trt_version
    from cnn2gnn.engine.build_plan import plan_build
    from cnn2gnn.engine.engine_from_onnx import BuildResult
    from tests.engine._engines import sample_sidecar

    plan = plan_build(parse_trt_version("10.3.0"), "int8", True, False, False)
    built = BuildResult(tmp_path / "m.engine", tmp_path / "m.engine.json", sample_sidecar(), False, 12.34, plan)
    result = json.loads(json.dumps(built.to_dict()))
    assert result["plan"]["network_flags"] == ["STRONGLY_TYPED"]
    text = build_summary(result)
    assert "m.engine: built in 12.3 s" in text
    assert "int8, TensorRT 10.3.0, Orin (compute capability 8.7), batch 1/1/64" in text
    reused = build_summary({**result, "reused": True, "triton_model": "repo/student"})
    assert "reused" in reused and "Triton model: repo/student" in reused
