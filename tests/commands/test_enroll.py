"""`cnn2gnn enroll` says which engines can take the new bank: a refit after `--append` into reserved rows, a rebuild
after any change of shapes; `--capacity` writes a bank with that many rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from tests._enrolment_images import write_training_images_of

runner = CliRunner()


@pytest.fixture(scope="module")
def padded_student(tiny_lp_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    folder = tmp_path_factory.mktemp("enroll_cli")
    return Path(onnx_from_checkpoint(tiny_lp_student_ckpt, folder / "lp100.onnx", parity_samples=32, progress=False,
                                     bank_capacity=100)["output"])


@pytest.fixture(scope="module")
def threes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_training_images_of(3, tmp_path_factory.mktemp("threes"))


def test_an_append_into_reserved_rows_points_to_refit(padded_student: Path, threes: Path, tmp_path: Path) -> None:
    out = tmp_path / "more3.onnx"
    result = runner.invoke(app, ["enroll", str(padded_student), "--images", str(threes), "--label", "3", "--append",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(64 -> 84 anchors of 100 rows, 10 -> 10 classes)" in result.output
    assert f"`cnn2gnn refit ENGINE --onnx {out}`" in result.output


def test_a_new_class_or_capacity_points_to_build(padded_student: Path, threes: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["enroll", str(padded_student), "--images", str(threes), "--label", "3", "--append",
                                 "--capacity", "128", "-o", str(tmp_path / "wide.onnx"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["after"]["capacity"] == 128 and report["refittable_from_model"] is False
    text = runner.invoke(app, ["enroll", str(padded_student), "--images", str(threes), "--label", "new", "-o",
                               str(tmp_path / "new.onnx")]).output
    assert "cannot be refitted: `cnn2gnn build` it again" in text and "--capacity" in runner.invoke(
        app, ["enroll", "--help"]).output
