"""`cnn2gnn refit` and `build --refittable` up to TensorRT: every refusal happens, with its fix, before TensorRT is
looked for; where it is missing, a compatible refit stops with the install message and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.engine.engine_from_onnx import write_engine_files
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available
from tests.engine._engines import refittable_sidecar, sample_sidecar
from tests.engine._heavy_imports import heavy_modules_after_cli


def _engine(folder: Path, sidecar_for: Path | None) -> Path:
    """An engine file (not a real plan: nothing here deserializes it) with the sidecar a refittable build of
    ``sidecar_for`` writes, or a plain build's sidecar when None."""
    from cnn2gnn.contracts.atomic_io import sha256_bytes

    folder.mkdir(parents=True, exist_ok=True)
    data = b"serialized plan"
    sidecar = (refittable_sidecar(sidecar_for, sha256_bytes(data)) if sidecar_for is not None
               else sample_sidecar(engine_sha256=sha256_bytes(data)))
    write_engine_files(folder / "student.engine", data, sidecar)
    return folder / "student.engine"


def _refit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["refit", *args])
    if isinstance(result.exception, Cnn2GnnError):
        return 1, str(result.exception)
    return result.exit_code, result.output


def test_help_lists_the_options() -> None:
    text = CliRunner().invoke(app, ["refit", "--help"]).output
    for option in ("--onnx", "--out", "--check", "--no-check", "--force", "--json"):
        assert option in text
    assert "--refittable" in CliRunner().invoke(app, ["build", "--help"]).output


def test_help_and_a_refused_refit_import_nothing_heavy(tmp_path: Path) -> None:
    refused = ["refit", str(tmp_path / "x.engine"), "--onnx", str(tmp_path / "x.onnx")]
    assert heavy_modules_after_cli([["refit", "--help"], refused]) == []


def test_a_plain_engine_is_refused_with_the_rebuild(bank_models: dict[str, Path], tmp_path: Path) -> None:
    engine = _engine(tmp_path, None)
    code, message = _refit(str(engine), "--onnx", str(bank_models["append"]))
    assert code == 1 and "it was built without --refittable, so TensorRT cannot change its weights" in message
    assert f"`cnn2gnn build {bank_models['append']} --precision int8 --refittable`" in message


def test_a_new_class_is_refused_naming_the_shapes(bank_models: dict[str, Path], tmp_path: Path) -> None:
    engine = _engine(tmp_path, bank_models["source"])
    code, message = _refit(str(engine), "--onnx", str(bank_models["new_class"]))
    assert code == 1 and "anchor_values is 100x43 float32 in new.onnx, 100x42 float32 in the engine" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.engine", "student.engine.json"]


def test_an_altered_engine_file_is_refused(bank_models: dict[str, Path], tmp_path: Path) -> None:
    engine = _engine(tmp_path, bank_models["source"])
    engine.write_bytes(b"truncated")
    code, message = _refit(str(engine), "--onnx", str(bank_models["append"]))
    assert code == 1 and "is not the engine its sidecar describes (sha256 differs" in message


def test_the_model_is_never_the_output(bank_models: dict[str, Path], tmp_path: Path) -> None:
    engine = _engine(tmp_path, bank_models["source"])
    code, message = _refit(str(engine), "--onnx", str(bank_models["append"]), "-o", str(bank_models["append"]))
    assert code == 1 and "is the --onnx" in message


def test_a_refit_to_the_engines_own_model_has_nothing_to_do(bank_models: dict[str, Path], tmp_path: Path) -> None:
    engine = _engine(tmp_path, bank_models["source"])
    code, output = _refit(str(engine), "--onnx", str(bank_models["source"]), "-o", str(engine), "--json")
    result = json.loads(output)
    assert code == 0 and result["reused"] and result["weights_set"] == [] and result["engine"] == str(engine)


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
def test_a_compatible_refit_without_tensorrt_says_how_to_install_and_writes_nothing(bank_models: dict[str, Path],
                                                                                   tmp_path: Path) -> None:
    engine = _engine(tmp_path / "engines", bank_models["source"])
    result = subprocess.run([sys.executable, "-m", "cnn2gnn.cli", "refit", str(engine), "--onnx",
                             str(bank_models["append"])], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: TensorRT is not installed") and "pip install tensorrt" in result.stderr
    assert sorted(p.name for p in engine.parent.iterdir()) == ["student.engine", "student.engine.json"]


def test_build_refittable_refuses_a_model_without_a_bank_before_tensorrt(linear_onnx: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", str(linear_onnx), "--refittable", "-o", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError)
    assert "no anchor bank" in str(result.exception) and list(tmp_path.iterdir()) == []
