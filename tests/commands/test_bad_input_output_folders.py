"""Issue 11: an output that cannot be written is refused in one line naming the folder, before the work."""

from __future__ import annotations

import time

import pytest

from tests.commands._bad_input import digests, linear_model, run_cli, unwritable_folder


@pytest.fixture
def read_only(tmp_path):
    return unwritable_folder(tmp_path)


def _refused_quickly(args, monkeypatch, capsys, folder, code=1):
    started = time.perf_counter()
    got, err = run_cli(args, monkeypatch, capsys)
    assert got == code
    assert err.startswith("error: cannot write ") and f"the folder {folder} is not writable" in err
    assert err.count("\n") == 1 and "choose a folder you can write to" in err
    assert time.perf_counter() - started < 5  # before the expensive part, not after it


def test_export_into_a_read_only_folder(tmp_path, read_only, monkeypatch, capsys):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"not read: the output is checked first")
    _refused_quickly(["export", checkpoint, "-o", read_only / "m.onnx"], monkeypatch, capsys, read_only)


def test_calibrate_into_a_read_only_folder(tmp_path, read_only, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    before = digests(tmp_path / "m.onnx")
    _refused_quickly(["calibrate", model, "-o", read_only / "x.onnx"], monkeypatch, capsys, read_only)
    assert digests(tmp_path / "m.onnx") == before


def test_train_teacher_into_a_read_only_folder(read_only, monkeypatch, capsys):
    _refused_quickly(["train-teacher", "--out", read_only / "run", "--epochs", "1"], monkeypatch, capsys, read_only)


def test_evaluate_plot_into_a_read_only_folder(tmp_path, read_only, monkeypatch, capsys):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"not read: the plot path is checked first")
    _refused_quickly(["evaluate", checkpoint, "--plot", read_only / "cm.png"], monkeypatch, capsys, read_only)


def test_run_out_into_a_read_only_folder_is_exit_code_5(tmp_path, read_only, monkeypatch, capsys):
    model = linear_model(tmp_path / "m.onnx")
    _refused_quickly(["run", model, "synthetic://8x8?frames=2&fps=0&live=0", "--out", read_only / "f.jsonl"],
                     monkeypatch, capsys, read_only, code=5)


def test_export_under_a_regular_file_names_it(tmp_path, monkeypatch, capsys):
    checkpoint, blocker = tmp_path / "best.pt", tmp_path / "FILE"
    checkpoint.write_bytes(b"ckpt")
    blocker.write_text("a file where a folder is wanted")
    code, err = run_cli(["export", checkpoint, "-o", blocker / "x.onnx"], monkeypatch, capsys)
    assert code == 1
    assert err == (f"error: cannot write --output {blocker / 'x.onnx'}: {blocker} is a file, not a folder; choose a "
                   "path in a folder\n")
    assert blocker.read_text() == "a file where a folder is wanted"


def test_train_teacher_out_that_is_a_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    out.write_text("x")
    code, err = run_cli(["train-teacher", "--out", out], monkeypatch, capsys)
    assert code == 1 and f"cannot write --out {out}: it is a file, not a folder" in err
