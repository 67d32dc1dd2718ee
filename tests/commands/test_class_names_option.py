"""``--class-names FILE`` on every command that takes ``--data``: the names reach the checkpoint and the
exported model, later commands default to the model's names, and a bad file or a renamed resume is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.errors import Cnn2GnnError

runner = CliRunner()
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# One short epoch of the smallest teacher: seconds on one core.
TINY_TEACHER = ["--data", "digits", "--epochs", "1", "--width", "8", "--image-size", "16", "--batch-size", "128",
                "--augment", "none", "--device", "cpu"]


def _names_file(folder: Path, names: list[str], file_name: str = "names.txt") -> Path:
    path = folder / file_name
    path.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return path


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1 and isinstance(result.exception, Cnn2GnnError), result.output
    return str(result.exception)


@pytest.fixture(scope="module")
def named_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(teacher run folder, its names file): train-teacher --class-names, one epoch."""
    folder = tmp_path_factory.mktemp("named_teacher")
    names = _names_file(folder, NAMES)
    _ok("train-teacher", *TINY_TEACHER, "--class-names", str(names), "--out", str(folder / "run"))
    return folder / "run", names


@pytest.fixture(scope="module")
def named_onnx(named_run: tuple[Path, Path]) -> Path:
    path = named_run[0].parent / "teacher.onnx"
    _ok("export", str(named_run[0] / "best.pt"), "--output", str(path), "--parity-samples", "32")
    return path


def test_every_command_that_takes_data_takes_class_names() -> None:
    for command in ("train-teacher", "distill", "evaluate", "calibrate", "compare"):
        assert "--class-names" in _ok(command, "--help"), command


def test_the_names_reach_the_checkpoint_its_config_and_the_exported_model(named_run, named_onnx) -> None:
    from cnn2gnn.runtime.model_info import read_model_metadata
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    run, names = named_run
    assert load_checkpoint(run / "best.pt").class_names == NAMES
    assert json.loads((run / "config.json").read_text())["class_names_file"] == str(names)
    assert read_model_metadata(named_onnx).class_names == NAMES


def test_evaluate_without_data_uses_the_models_names(named_run, named_onnx) -> None:
    for model, extra in ((named_run[0] / "best.pt", ["--device", "cpu"]), (named_onnx, [])):
        report = json.loads(_ok("evaluate", str(model), *extra, "--json"))
        assert report["class_names"] == NAMES and report["data"] == "digits"
        assert set(report["per_class_accuracy"]) == set(NAMES)


def test_evaluate_on_explicit_data_takes_the_file_again(named_run) -> None:
    checkpoint, names = str(named_run[0] / "best.pt"), str(named_run[1])
    message = _refused("evaluate", checkpoint, "--data", "digits", "--device", "cpu")
    assert "checkpoint vs data: 10 classes each; the first difference is class 0: 'zero' vs '0'" in message
    assert "with its --class-names file if it was trained with one" in message
    report = json.loads(_ok("evaluate", checkpoint, "--data", "digits", "--class-names", names, "--device", "cpu",
                            "--json"))
    assert report["class_names"] == NAMES


def test_compare_names_the_data_with_the_file(named_onnx, named_run) -> None:
    args = ["compare", str(named_onnx), str(named_onnx), "--data", "digits", "--limit", "20"]
    assert "compare on the dataset the models were trained on" in _refused(*args)
    result = json.loads(_ok(*args, "--class-names", str(named_run[1]), "--json"))
    assert result["top1_agreement"] == 1.0


def test_distill_and_calibrate_pass_the_file_to_the_data(named_run, named_onnx, tmp_path: Path) -> None:
    """Wired through: a file with the wrong count is refused by both, naming it, before any work."""
    three = _names_file(tmp_path, ["a", "b", "c"], "three.txt")
    want = f"--class-names for --data digits: {three} has 3 class name(s) but the data has 10 classes"
    assert want in _refused("distill", "--teacher", str(named_run[0] / "best.pt"), "--data", "digits",
                            "--class-names", str(three), "--out", str(tmp_path / "student"), "--device", "cpu")
    assert not (tmp_path / "student" / "best.pt").exists()
    assert want in _refused("calibrate", str(named_onnx), "--output", str(tmp_path / "m.int8.onnx"),
                            "--class-names", str(three))
    assert not (tmp_path / "m.int8.onnx").exists()


def test_distill_without_data_takes_the_teachers_data_and_names(named_run) -> None:
    from cnn2gnn.toolchain.distill.distillation_data import distillation_data
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
    from cnn2gnn.toolchain.training.loop import TrainConfig

    teacher = named_run[0] / "best.pt"
    inputs = distillation_data(None, TrainConfig(batch_size=128, device="cpu"), teacher, cache_dir=None)
    assert inputs.data == "digits" and inputs.dataset.class_names == NAMES
    # The same fingerprint the teacher recorded: no "not the exact data" warning, the same logit-cache key.
    assert inputs.dataset.fingerprint() == load_checkpoint(teacher).dataset["fingerprint"]


def test_calibrate_without_data_uses_the_models_names(named_onnx, tmp_path: Path) -> None:
    from cnn2gnn.runtime.model_info import read_model_metadata

    output = tmp_path / "teacher.int8.onnx"
    _ok("calibrate", str(named_onnx), "--output", str(output), "--num-images", "16", "--latency-iterations", "0",
        "--allow-over-budget")  # the INT8 budget is not what is tested here
    assert read_model_metadata(output).class_names == NAMES


def test_a_bad_names_file_stops_training_before_it_starts(tmp_path: Path) -> None:
    dupes = _names_file(tmp_path, NAMES[:9] + ["zero"], "dupes.txt")
    message = _refused("train-teacher", *TINY_TEACHER, "--class-names", str(dupes), "--out", str(tmp_path / "run"))
    assert f"{dupes}: class name 'zero' is on lines 1 and 10; names must differ" in message
    assert not (tmp_path / "run" / "last.pt").exists()


def test_resume_refuses_other_class_names_and_continues_with_the_same(named_run, tmp_path: Path) -> None:
    run, names = named_run
    copy = shutil.copytree(run, tmp_path / "run")
    before = (copy / "last.pt").read_bytes()
    renamed = _names_file(tmp_path, [n.upper() for n in NAMES], "upper.txt")
    # one more epoch than the run finished: a resume of a finished run is refused before its names are compared
    resume = [a if a != "1" else "2" for a in ["train-teacher", *TINY_TEACHER, "--out", str(copy), "--resume"]]
    for other in (["--class-names", str(renamed)], []):  # other names, or the dataset's own
        message = _refused(*resume, *other)
        assert "was trained with other class names (then vs now: 10 classes each; the first difference is class " \
               "0: 'zero' vs " in message and "resume with the run's --class-names" in message
    assert (copy / "last.pt").read_bytes() == before
    result = json.loads(_ok(*resume, "--class-names", str(names), "--json"))
    assert result["epochs"] == 2
