"""The command line: help everywhere, user errors as one line on stderr, --json output that parses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cnn2gnn import __version__
from cnn2gnn.cli import app, main

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
TINY_TEACHER = ["--epochs", "1", "--width", "8", "--arch", "resnet8", "--image-size", "16", "--augment", "none",
                "--device", "cpu"]


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[object, str]:
    """Run ``main()`` (the console-script entry point) in-process; return (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["cnn2gnn", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_root_help_lists_the_training_commands() -> None:
    out = _ok(["--help"])
    for name in ("train-teacher", "distill", "evaluate"):
        assert name in out and name in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str) -> None:
    assert "--help" in _ok([command, "--help"])


def test_version() -> None:
    assert _ok(["--version"]).strip() == f"cnn2gnn {__version__}"


def test_console_script_entry_point() -> None:
    script = shutil.which("cnn2gnn", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the cnn2gnn console script is not installed beside this interpreter (pip install -e .)")
    proc = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"cnn2gnn {__version__}")


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnn2gnn.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["evaluate", "missing.pt"], "error: checkpoint missing.pt does not exist"),
     (["train-teacher", "--data", "nosuch", "--out", "run"], "error: unknown dataset 'nosuch'")],
)
def test_user_error_is_one_line_on_stderr_in_a_real_process(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _run_cli(args, tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_distill_needs_a_teacher_choice(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    code, err = _main(monkeypatch, capsys, ["distill", "--out", str(tmp_path / "s")])
    assert code == 1
    assert err.startswith("error: give --teacher CKPT") and "--no-teacher" in err and "Traceback" not in err
    code, err = _main(monkeypatch, capsys, ["distill", "--teacher", "t.pt", "--no-teacher"])
    assert code == 1 and "exclude each other" in err


def test_resume_without_a_previous_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    code, err = _main(monkeypatch, capsys, ["train-teacher", *TINY_TEACHER, "--out", str(tmp_path), "--resume"])
    assert code == 1 and "--resume: no" in err and "last.pt" in err


def test_bad_option_value_is_a_user_error(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _main(monkeypatch, capsys, ["train-teacher", "--mean", "0.5,x"])
    assert code == 1
    assert err == "error: --mean takes comma-separated numbers, e.g. 0.485,0.456,0.406; got '0.5,x'\n"


def test_no_teacher_needs_data_before_torch_loads(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _main(monkeypatch, capsys, ["distill", "--no-teacher"])
    assert code == 1 and err.startswith("error: --no-teacher needs --data SPEC")


def test_json_outputs_parse(tmp_path: Path, tiny_teacher_ckpt: Path) -> None:
    trained = json.loads(_ok(["train-teacher", *TINY_TEACHER, "--out", str(tmp_path / "t"), "--json"]))
    assert trained["epochs"] == 1 and len(trained["history"]) == 1
    assert Path(trained["best_checkpoint"]).is_file()

    report = json.loads(_ok(["evaluate", trained["best_checkpoint"], "--batch-size", "64", "--device", "cpu", "--json",
                             "--plot", str(tmp_path / "cm.png")]))
    assert report["kind"] == "teacher" and len(report["confusion_matrix"]) == 10
    assert set(report["per_class_accuracy"]) == {str(i) for i in range(10)}
    assert Path(report["plot"]).read_bytes()[:4] == b"\x89PNG"

    distilled = json.loads(_ok(["distill", "--teacher", str(tiny_teacher_ckpt), "--out", str(tmp_path / "s"),
                                "--epochs", "1", "-k", "3", "--anchors", "24", "--hidden", "16", "--proj-dim", "8",
                                "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--contrastive", "2",
                                "--contrastive-temperature", "0.2", "--json"]))
    assert distilled["teacher_cache"] == "miss" and Path(distilled["best_checkpoint"]).is_file()
    student = json.loads((tmp_path / "s" / "config.json").read_text())["student"]
    assert (student["contrastive"], student["contrastive_temperature"]) == (2.0, 0.2)  # the options reach the run


def test_human_readable_evaluate(tiny_student_ckpt: Path) -> None:
    out = _ok(["evaluate", str(tiny_student_ckpt), "--batch-size", "1", "--device", "cpu"])
    assert "student" in out and "batch 1: accuracy 0." in out and "weakest classes:" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
