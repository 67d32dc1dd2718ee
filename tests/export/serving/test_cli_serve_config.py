"""`cnn2gnn serve-config` end to end: from an ONNX torch-free, from an engine, and its user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError
from tests.export.serving._served_files import imagenet_metadata, write_engine, write_onnx

runner = CliRunner()


def test_from_an_onnx_without_torch(tmp_path: Path) -> None:
    onnx_path = write_onnx(tmp_path)
    code = (
        "import json, sys\n"
        "from cnn2gnn.cli import main\n"
        f"sys.argv = ['cnn2gnn', 'serve-config', {str(onnx_path)!r}, '--triton', {str(tmp_path / 'repo')!r}, "
        f"'--deepstream', {str(tmp_path / 'ds.txt')!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(m for m in ('torch', 'onnx', 'tensorrt') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *summary, loaded = out.stdout.strip().splitlines()
    assert json.loads(loaded) == []
    assert "Triton: " in summary[0] and "onnxruntime_onnx, max_batch_size 64, dynamic batching" in summary[0]
    assert "normalisation exact: max |difference| 1.19209e-07" in out.stdout
    assert (tmp_path / "repo" / "student" / "1" / "model.onnx").is_file() and (tmp_path / "ds.labels.txt").is_file()
    assert "note: resizing to 8x8 is nvinfer's own scaler" in out.stderr


def test_from_an_engine_as_json_with_the_approximation_stated(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, "rgb.engine", imagenet_metadata(), precision="fp16")
    result = runner.invoke(app, ["serve-config", str(engine), "--deepstream", str(tmp_path / "rgb.txt"),
                                 "--triton", str(tmp_path / "repo"), "--name", "rgb_classifier", "--max-batch", "16",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["triton"] == {"folder": str(tmp_path / "repo" / "rgb_classifier"), "platform": "tensorrt_plan",
                                "max_batch_size": 16, "model_file": "model.plan"}
    deepstream = report["deepstream"]
    assert deepstream["exact"] is False and deepstream["max_abs_error"] == pytest.approx(0.0243685, abs=1e-6)
    assert any("per-channel std (0.229, 0.224, 0.225)" in note for note in report["notes"])


def test_nothing_to_write_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve-config", str(write_onnx(tmp_path))])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert "--triton DIR and/or --deepstream FILE" in str(result.exception)


@pytest.mark.parametrize("args, message", [
    (["--process-mode", "tertiary"], "--process-mode 'tertiary' unknown"),
    (["--name", "my model"], "Triton model name 'my model'"),
    (["--max-batch", "65"], "accepts batches 1..64, not --max-batch 65"),
    (["--classifier-threshold", "nan"], "--classifier-threshold must be a finite logit value, got nan"),
    (["--gpu-id", "-1"], "--gpu-id must be a GPU index (0 for the first GPU), got -1"),
])
def test_a_bad_option_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    engine = write_engine(tmp_path / "models")
    result = runner.invoke(app, ["serve-config", str(engine), "--triton", str(tmp_path / "repo"),
                                 "--deepstream", str(tmp_path / "ds" / "c.txt"), *args])
    assert result.exit_code == 1 and message in str(result.exception)
    assert not (tmp_path / "repo").exists() and not (tmp_path / "ds").exists()


def test_an_unknown_suffix_names_the_supported_ones(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"")
    result = runner.invoke(app, ["serve-config", str(model), "--triton", str(tmp_path / "repo")])
    assert result.exit_code == 1 and ".onnx / .engine / .plan" in str(result.exception)


@pytest.mark.parametrize("target, message", [
    ("student.onnx", "is the MODEL"),
    ("student.onnx.json", "is the MODEL's sidecar"),
    ("other.onnx", "already exists and is a cnn2gnn artifact"),
])
def test_a_deepstream_config_never_replaces_a_model(tmp_path: Path, target: str, message: str) -> None:
    model = write_onnx(tmp_path)
    write_onnx(tmp_path, "other.onnx")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = runner.invoke(app, ["serve-config", str(model), "--triton", str(tmp_path / "repo"),
                                 "--deepstream", str(tmp_path / target)])
    assert result.exit_code == 1 and message in str(result.exception)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_overwrite_lets_a_deepstream_config_replace_another_model(tmp_path: Path) -> None:
    model = write_onnx(tmp_path)
    other = write_onnx(tmp_path, "other.onnx")
    result = runner.invoke(app, ["serve-config", str(model), "--deepstream", str(other), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert other.read_text().startswith("# DeepStream nvinfer config for student.onnx")


@pytest.mark.parametrize("name", [".", "..", "student\n"])
def test_a_triton_name_that_is_no_folder_of_the_repository_is_refused(tmp_path: Path, name: str) -> None:
    result = runner.invoke(app, ["serve-config", str(write_onnx(tmp_path / "models")), "--triton",
                                 str(tmp_path / "repo" / "inner"), "--name", name])
    assert result.exit_code == 1 and f"Triton model name {name!r}" in str(result.exception)
    assert not (tmp_path / "repo").exists()


def test_a_deepstream_config_that_cannot_be_written_leaves_no_triton_entry(tmp_path: Path) -> None:
    model = write_onnx(tmp_path)
    result = runner.invoke(app, ["serve-config", str(model), "--triton", str(tmp_path / "repo"),
                                 "--deepstream", str(model / "c.txt")])
    assert result.exit_code == 1 and f"{model} is a file, not a folder" in str(result.exception)
    assert not (tmp_path / "repo").exists()


def test_a_max_batch_past_32_bits_is_refused_for_an_onnx_model(tmp_path: Path) -> None:
    # an ONNX model's batch axis is unbounded, so only the servers' own 32-bit fields limit it
    result = runner.invoke(app, ["serve-config", str(write_onnx(tmp_path)), "--triton", str(tmp_path / "repo"),
                                 "--max-batch", str(2**31)])
    assert result.exit_code == 1 and "--max-batch must be between 1 and 2147483647" in str(result.exception)
    assert not (tmp_path / "repo").exists()
