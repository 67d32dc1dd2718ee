"""Issue 11, data loss: an output that is an input, or that holds another run's artifact, is refused
before any work, and nothing the command was given changes."""

from __future__ import annotations

from pathlib import Path

from tests.commands._bad_input import digests, linear_model, run_cli

SOURCE = "synthetic://32x24?frames=3&fps=0&live=0"


def test_run_out_that_is_the_model_is_refused(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    before = digests(tmp_path)
    code, err = run_cli(["run", model, SOURCE, "--out", model, "--status-every", "0"], monkeypatch, capsys)
    assert code == 1
    assert err == f"error: --out {model} is the model {model}: writing it would destroy the input; choose another " \
                  "output path\n"
    assert digests(tmp_path) == before


def test_run_summary_over_the_models_sidecar_is_refused(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    before = digests(tmp_path)
    code, err = run_cli(["run", model, SOURCE, "--summary", f"{model}.json"], monkeypatch, capsys)
    assert code == 1 and f"--summary {model}.json is the model's sidecar" in err
    assert digests(tmp_path) == before


def test_run_out_over_another_model_needs_overwrite(tmp_path, monkeypatch, capsys):
    model, other = linear_model(tmp_path / "m.onnx"), linear_model(tmp_path / "other.onnx", size=4)
    before = digests(tmp_path)
    code, err = run_cli(["run", model, SOURCE, "--out", other, "--status-every", "0"], monkeypatch, capsys)
    assert code == 1
    assert f"--out {other} already exists and is a cnn2gnn artifact" in err and "pass --overwrite" in err
    assert digests(tmp_path) == before


def test_calibrate_report_that_is_the_fp32_model_is_refused(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    before = digests(tmp_path)
    code, err = run_cli(["calibrate", model, "-o", tmp_path / "x.onnx", "--report", model], monkeypatch, capsys)
    assert code == 1
    assert f"error: --report {model} is the FP32 model {model}: writing it would destroy the input" in err
    assert digests(tmp_path) == before


def test_calibrate_output_and_report_on_one_file_are_refused(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    out = tmp_path / "x.onnx"
    code, err = run_cli(["calibrate", model, "-o", out, "--report", out], monkeypatch, capsys)
    assert code == 1 and f"--output and --report are the same file {out}" in err
    assert not out.exists()


def test_calibrate_output_over_a_model_from_another_fp32_model_needs_overwrite(tmp_path, monkeypatch, capsys):
    model, existing = linear_model(tmp_path / "m.onnx"), linear_model(tmp_path / "x.onnx", size=4)
    before = digests(tmp_path)
    code, err = run_cli(["calibrate", model, "-o", existing], monkeypatch, capsys)
    assert code == 1
    assert f"--output {existing} already exists and holds a model made from other inputs; pass --overwrite" in err
    assert digests(tmp_path) == before


def test_export_over_a_model_of_another_checkpoint_needs_overwrite(tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"stands in for a checkpoint: the check runs before it is read")
    existing = linear_model(tmp_path / "model.onnx")
    before = digests(tmp_path)
    code, err = run_cli(["export", checkpoint, "-o", existing], monkeypatch, capsys)
    assert code == 1
    assert f"--output {existing} already exists and holds a model made from other inputs; pass --overwrite" in err
    assert digests(tmp_path) == before


def test_export_output_sidecar_that_is_the_checkpoint_is_refused(tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "m.onnx.json"
    checkpoint.write_bytes(b"a checkpoint with an unlucky name")
    before = digests(tmp_path)
    code, err = run_cli(["export", checkpoint, "-o", tmp_path / "m.onnx"], monkeypatch, capsys)
    assert code == 1 and f"the sidecar of --output {checkpoint} is the checkpoint" in err
    assert digests(tmp_path) == before


def _finished_run(folder: Path) -> Path:
    folder.mkdir()
    for name in ("best.pt", "last.pt", "config.json"):
        (folder / name).write_bytes(f"the 61% model's {name}".encode())
    return folder


def test_train_teacher_into_a_finished_run_is_refused(tmp_path, monkeypatch, capsys):
    run = _finished_run(tmp_path / "teacher")
    before = digests(run)
    code, err = run_cli(["train-teacher", "--out", run, "--epochs", "1"], monkeypatch, capsys)
    assert code == 1
    assert err == (f"error: --out {run} already holds a training run ({run / 'best.pt'}); pass --resume to continue "
                   "it, pass --overwrite to replace it, or choose another --out\n")
    assert digests(run) == before
    (run / "last.pt").unlink()  # a run that cannot be resumed is not told to --resume
    code, err = run_cli(["train-teacher", "--out", run, "--epochs", "1"], monkeypatch, capsys)
    assert code == 1 and "(without its last.pt it cannot be resumed) pass --overwrite to replace it" in err


def test_distill_into_a_finished_run_is_refused(tmp_path, monkeypatch, capsys):
    run = _finished_run(tmp_path / "student")
    before = digests(run)
    code, err = run_cli(["distill", "--no-teacher", "--data", "digits", "--out", run], monkeypatch, capsys)
    assert code == 1 and f"--out {run} already holds a training run" in err and "--resume" in err
    assert digests(run) == before


def test_distill_with_overwrite_into_the_teachers_folder_is_refused(tmp_path, monkeypatch, capsys):
    run = _finished_run(tmp_path / "teacher")
    before = digests(run)
    code, err = run_cli(["distill", "--teacher", run / "best.pt", "--out", run, "--overwrite"], monkeypatch, capsys)
    assert code == 1 and f"--out's best.pt {run / 'best.pt'} is the --teacher {run / 'best.pt'}" in err
    assert digests(run) == before


def test_evaluate_plot_that_is_the_checkpoint_is_refused(tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"checkpoint")
    code, err = run_cli(["evaluate", checkpoint, "--plot", checkpoint], monkeypatch, capsys)
    assert code == 1 and f"--plot {checkpoint} is the checkpoint {checkpoint}" in err
    assert checkpoint.read_bytes() == b"checkpoint"


def test_evaluate_plot_that_is_not_a_png_path_is_refused(tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"checkpoint")
    code, err = run_cli(["evaluate", checkpoint, "--plot", tmp_path / "cm.txt"], monkeypatch, capsys)
    assert code == 1 and "the confusion matrix is written as a PNG; give a path ending in .png" in err
    assert not (tmp_path / "cm.txt").exists()


def test_build_timing_cache_that_is_the_model_is_refused_before_tensorrt(tmp_path, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    before = digests(tmp_path)
    code, err = run_cli(["build", model, "--timing-cache", model], monkeypatch, capsys)
    assert code == 1 and f"--timing-cache {model} is the model {model}" in err
    assert digests(tmp_path) == before
