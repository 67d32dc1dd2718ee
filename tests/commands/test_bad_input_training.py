"""Bad input to train-teacher, distill, evaluate and export (issue 11, training/data side).

Each case asserts the exit code, the one-line message (naming the value or file and the fix) and
that no input or earlier artifact changed. Datasets and checkpoints are written by the tests, tiny.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn2gnn.cli import main
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.models.registry import model_from_config
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.models.teacher import TeacherConfig
from cnn2gnn.toolchain.training.checkpoint import CHECKPOINT_FORMAT, Checkpoint, save_checkpoint
from tests.toolchain.data._writers import pattern_image, write_class_folders, write_mnist

pytest.importorskip("cv2")
TINY = ["--epochs", "1", "--batch-size", "8", "--device", "cpu"]


def _digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots``: compared before and after a refused command."""
    files = [p for root in roots for p in ([root] if root.is_file() else sorted(root.rglob("*"))) if p.is_file()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    """``cnn2gnn ARGS`` in-process through the console-script entry point: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["cnn2gnn", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return int(exit_info.value.code or 0), err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two classes of twelve 8x8 gray images: 9 train, 1 val, 2 test per class."""
    root = tmp_path / "data"
    write_class_folders(root, {name: [pattern_image(10 * c + i, (8, 8)) for i in range(12)]
                               for c, name in enumerate(("a", "b"))})
    return root


def _checkpoint(path: Path, kind: str, data: str, broken_weights: bool = False) -> Path:
    """A real checkpoint with untrained weights for ``data`` (8x8 gray inputs)."""
    dataset = load_dataset(data)
    n = dataset.num_classes
    config = (TeacherConfig(1, 8, 8, n, base_width=4) if kind == "teacher"
              else StudentConfig(1, 8, 8, n, k=2, num_anchors=8, proj_dim=4, hidden=8)).to_dict()
    weights = model_from_config(config).state_dict()
    if broken_weights:
        weights = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in weights.items()}
    return save_checkpoint(path, Checkpoint(
        kind=kind, model_config=config, state_dict=weights, preprocessing=Preprocessing(8, 8, 1),
        class_names=dataset.class_names, dataset={"spec": data, "fingerprint": dataset.fingerprint()},
    ))


# --- checkpoints (evaluate / export) ------------------------------------------------------------


@pytest.mark.parametrize("command", [["evaluate"], ["export", "-o", "model.onnx"]])
def test_a_checkpoint_with_only_format_and_kind(monkeypatch, capsys, tmp_path: Path, command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save({"format": CHECKPOINT_FORMAT, "kind": "teacher"}, tmp_path / "bare.pt")
    before = _digests(tmp_path)
    code, err = _run(monkeypatch, capsys, [command[0], "bare.pt", *command[1:]])
    assert code == 1
    assert _error_line(err) == ("error: bare.pt: the checkpoint lacks the field 'model_config'; it is damaged or was "
                                "not written by cnn2gnn train-teacher / distill")
    assert _digests(tmp_path) == before


def test_weights_that_do_not_fit_the_recorded_config(monkeypatch, capsys, tmp_path: Path, folder: Path) -> None:
    path = _checkpoint(tmp_path / "t.pt", "teacher", f"imagefolder:{folder}")
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["base_width"] = 8  # edited: the weights are still width 4
    torch.save(payload, path)
    before = _digests(tmp_path)
    code, err = _run(monkeypatch, capsys, ["evaluate", str(path), "--device", "cpu"])
    assert code == 1
    assert _error_line(err) == (
        f"error: {path}: the checkpoint's weights do not match its recorded model config (tensor 'stem.0.weight' is "
        "(4, 1, 3, 3) in the checkpoint, the model config makes it (8, 1, 3, 3)); it is damaged or was edited: use "
        "the best.pt / last.pt the run wrote")
    assert _digests(tmp_path) == before


def test_a_pickle_of_python_objects_gets_no_unsafe_advice(monkeypatch, capsys, tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": torch.nn.Linear(2, 2)}, path)
    before = _digests(tmp_path)
    code, err = _run(monkeypatch, capsys, ["evaluate", str(path)])
    assert code == 1
    line = _error_line(err)
    assert line.startswith(f"error: {path} is not a cnn2gnn checkpoint: it holds Python objects")
    assert "weights_only" not in err and "likely succeed" not in err
    assert _digests(tmp_path) == before


# --- option values ------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    (["--image-size", "100000"], "image size (--image-size) must be 1..4096 pixels per side, got 100000x100000"),
    (["--lr", "nan"], "learning rate lr (--lr) must be a finite number in (0, 10], got nan"),
    (["--width", "0"], "base_width (--width) must be an integer in 1..1024, got 0"),
    (["--epochs", "0"], "epochs (--epochs) must be an integer in 1..100000, got 0"),
    (["--batch-size", "0"], "batch size (--batch-size) must be an integer in 1..1000000, got 0"),
    (["--weight-decay", "nan"], "weight decay (--weight-decay) must be a finite number in [0, 10], got nan"),
    (["--seed", "-1"], "seed (--seed) must be an integer in 0..4294967295, got -1"),
    (["--mean", "nan"], "mean/std must be finite numbers, got mean=(nan,) std=(0.5,)"),
])
def test_train_teacher_option_out_of_range(monkeypatch, capsys, tmp_path: Path, options: list[str],
                                           message: str) -> None:
    out = tmp_path / "run"
    code, err = _run(monkeypatch, capsys, ["train-teacher", "--data", "digits", "--out", str(out), *TINY, *options])
    assert (code, _error_line(err)) == (1, f"error: {message}")
    assert not (out / "config.json").exists() and not (out / "last.pt").exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--dropout", "1.5"], "dropout (--dropout) must be a finite number in [0, 1), got 1.5"),
    (["--hidden", "0"], "hidden (--hidden) must be an integer in 1..65536, got 0"),
    (["--proj-dim", "0"], "proj_dim (--proj-dim) must be an integer in 1..65536, got 0"),
    (["--k", "0"], "k (-k), the neighbours per sample, must be at least 1, got 0"),
    (["--anchors", "0"], "anchor mode with k=10 needs at least k+2=12 anchors (--anchors), got 0"),
    (["--anchors", "10000000"], "num_anchors (--anchors) must be an integer in 1..1000000, got 10000000"),
    (["--stem", "patch", "--patch-size", "0"], "patch_size (--patch-size) must be an integer in 1..8, got 0"),
    (["--temperature", "nan"], "distillation temperature (--temperature) must be a finite number in (0, 1000], "
                               "got nan"),
    (["--lambda", "2"], "lambda, the distillation weight (--lambda) must be a finite number in [0, 1], got 2.0"),
    (["--stem", "conv", "--stem-widths", "8,x"], "--stem-widths takes comma-separated positive integers, e.g. 1,8,64; "
                                                 "got '8,x'"),
    (["--stem", "conv", "--stem-widths", "8,8,8,8,8"], "number of stem_widths (--stem-widths) must be an integer in "
                                                       "1..4, got 5"),
    (["--label-mode", "knn"], "label_mode (--label-mode) 'knn' unknown; use one of none | lp | embed | both"),
    (["--label-scale", "0"], "label_scale (--label-scale) must be a finite number in (0, 10000], got 0.0"),
    (["--select", "val_f1"], "checkpoint selection (--select) 'val_f1' unknown; use one of last | val_loss | val_accuracy"),
    (["--anchor-features", "stale"], "anchor_features (--anchor-features) 'stale' unknown; use one of live | memory"),
])
def test_distill_option_out_of_range(monkeypatch, capsys, tmp_path: Path, folder: Path, options: list[str],
                                     message: str) -> None:
    teacher = _checkpoint(tmp_path / "teacher.pt", "teacher", f"imagefolder:{folder}")
    before = _digests(folder, teacher)
    out = tmp_path / "run"
    code, err = _run(monkeypatch, capsys, ["distill", "--teacher", str(teacher), "--out", str(out), "--no-cache",
                                           *TINY, *options])
    assert (code, _error_line(err)) == (1, f"error: {message}")
    assert _digests(folder, teacher) == before and not (out / "last.pt").exists()


# --- data that trains to garbage ----------------------------------------------------------------


def test_a_single_class_imagefolder(monkeypatch, capsys, tmp_path: Path) -> None:
    data = tmp_path / "one"
    write_class_folders(data, {"cat": [pattern_image(i, (8, 8)) for i in range(12)]})
    before = _digests(data)
    code, err = _run(monkeypatch, capsys, ["train-teacher", "--data", f"imagefolder:{data}", "--out",
                                           str(tmp_path / "run"), "--image-size", "8", *TINY])
    assert code == 1
    assert _error_line(err).endswith("the train split holds one class only ('cat', 9 images); a classifier needs at "
                                     "least 2 classes (imagefolder: one folder per class)")
    assert _digests(data) == before and not (tmp_path / "run" / "last.pt").exists()


def test_idx_train_and_test_labels_that_do_not_belong_together(monkeypatch, capsys, tmp_path: Path) -> None:
    images = np.zeros((20, 8, 8), np.uint8)
    write_mnist(tmp_path / "idx", (images, np.full(20, 200, np.uint8)), (images[:10], np.arange(10, dtype=np.uint8)))
    before = _digests(tmp_path / "idx")
    code, err = _run(monkeypatch, capsys, ["train-teacher", "--data", f"idx:{tmp_path / 'idx'}", "--out",
                                           str(tmp_path / "run"), *TINY])
    assert code == 1
    line = _error_line(err)
    assert "the test split has 10 class(es) the train split never shows" in line
    assert "labels per split: train 200..200 (1 distinct), val 200..200 (1 distinct), test 0..9 (10 distinct)" in line
    assert _digests(tmp_path / "idx") == before and not (tmp_path / "run").exists()


def test_pixel_sized_images_are_refused(monkeypatch, capsys, tmp_path: Path) -> None:
    data = tmp_path / "dots"
    write_class_folders(data, {name: [pattern_image(10 * c + i, (1, 1)) for i in range(12)]
                               for c, name in enumerate(("a", "b"))})
    code, err = _run(monkeypatch, capsys, ["train-teacher", "--data", f"imagefolder:{data}", "--out",
                                           str(tmp_path / "run"), *TINY])
    assert code == 1
    assert "training image 0 is 1x1 pixels; it would be upscaled 32x to 32x32" in _error_line(err)


def test_more_anchors_than_training_images_warn_and_use_all(monkeypatch, capsys, tmp_path: Path,
                                                            folder: Path) -> None:
    code, err = _run(monkeypatch, capsys, ["distill", "--no-teacher", "--data", f"imagefolder:{folder}", "--out",
                                           str(tmp_path / "run"), "--image-size", "8", "-k", "2", "--hidden", "8",
                                           "--proj-dim", "4", "--anchors", "100000", *TINY])
    assert code == 0, err
    assert (f"warning: --anchors 100000 is more than the 18 training images of imagefolder:{folder}: using M=18 "
            "anchors (all of them)") in err.splitlines()


# --- teachers that do not fit ------------------------------------------------------------------


def test_a_student_checkpoint_given_as_the_teacher(monkeypatch, capsys, tmp_path: Path, folder: Path) -> None:
    student = _checkpoint(tmp_path / "student.pt", "student", f"imagefolder:{folder}")
    before = _digests(student)
    code, err = _run(monkeypatch, capsys, ["distill", "--teacher", str(student), "--out", str(tmp_path / "run"),
                                           *TINY])
    assert (code, _error_line(err)) == (1, f"error: {student} holds a student model, expected a teacher")
    assert _digests(student) == before


def test_a_teacher_with_broken_weights(monkeypatch, capsys, tmp_path: Path, folder: Path) -> None:
    teacher = _checkpoint(tmp_path / "t.pt", "teacher", f"imagefolder:{folder}", broken_weights=True)
    cache = tmp_path / "cache"
    code, err = _run(monkeypatch, capsys, ["distill", "--teacher", str(teacher), "--out", str(tmp_path / "run"),
                                           "--cache-dir", str(cache), *TINY])
    assert code == 1
    assert _error_line(err) == (f"error: teacher {teacher} gives non-finite logits (NaN or Inf) on "
                                f"imagefolder:{folder}; its weights are damaged: use another teacher checkpoint")
    assert not cache.exists() or not any(cache.iterdir())  # nothing cached from a broken teacher


def test_a_teacher_trained_on_other_data_warns(monkeypatch, capsys, tmp_path: Path, folder: Path) -> None:
    teacher = _checkpoint(tmp_path / "t.pt", "teacher", f"imagefolder:{folder}")
    other = tmp_path / "other"  # the same class names, other images
    write_class_folders(other, {name: [pattern_image(500 + 10 * c + i, (8, 8)) for i in range(12)]
                                for c, name in enumerate(("a", "b"))})
    code, err = _run(monkeypatch, capsys, ["distill", "--teacher", str(teacher), "--data", f"imagefolder:{other}",
                                           "--out", str(tmp_path / "run"), "--no-cache", "-k", "2", "--anchors", "8",
                                           "--hidden", "8", "--proj-dim", "4", *TINY])
    assert code == 0, err
    assert (f"warning: --data imagefolder:{other} is not the exact data teacher {teacher} was trained on "
            f"('imagefolder:{folder}': its content differs); distilling anyway") in err.splitlines()


# --- interrupted and resumed runs ---------------------------------------------------------------


def test_resume_with_another_learning_rate(monkeypatch, capsys, tmp_path: Path, folder: Path) -> None:
    out = tmp_path / "run"
    common = ["train-teacher", "--data", f"imagefolder:{folder}", "--out", str(out), "--image-size", "8", "--width",
              "4", "--augment", "none", "--batch-size", "8", "--device", "cpu"]
    assert _run(monkeypatch, capsys, [*common, "--epochs", "1"])[0] == 0
    before = _digests(out)
    code, err = _run(monkeypatch, capsys, [*common, "--epochs", "2", "--lr", "0.01", "--resume"])
    assert code == 1
    assert _error_line(err) == (f"error: --resume: {out / 'last.pt'} was trained with lr=0.002, now 0.01; resume "
                                "with the run's settings (only --epochs, --device and --workers may change) or use a new --out")
    assert _digests(out) == before
    # The seed also draws the split: a changed --seed is named as such, not as other data.
    code, err = _run(monkeypatch, capsys, [*common, "--epochs", "2", "--seed", "3", "--resume"])
    assert code == 1 and f"{out / 'last.pt'} was trained with seed=0, now 3" in _error_line(err)


def test_sigint_during_training_prints_the_resume_command(tmp_path: Path, folder: Path) -> None:
    out = tmp_path / "run"
    args = ["train-teacher", "--data", f"imagefolder:{folder}", "--out", str(out), "--image-size", "8", "--width",
            "4", "--epochs", "100000", "--batch-size", "8", "--augment", "none", "--device", "cpu"]
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        # A shell without job control starts background jobs with SIGINT ignored, and an ignored signal stays
        # ignored across exec (Python then installs no KeyboardInterrupt handler): give the child the default.
        proc = subprocess.Popen([sys.executable, "-m", "cnn2gnn.cli", *args], stdout=subprocess.PIPE, stderr=stderr,
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 90
            while not (out / "last.pt").is_file():
                assert proc.poll() is None and time.monotonic() < deadline, stderr_path.read_text()
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
    err = stderr_path.read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and stdout == ""
    expected = ["cnn2gnn", *args, "--resume"]
    assert f"interrupted; resume with: {' '.join(expected)}" in err.splitlines()
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    assert load_checkpoint(out / "last.pt").training.optimizer is not None  # intact, resumable


def test_export_of_weights_that_do_not_fit_names_the_file_once(monkeypatch, capsys, tmp_path: Path,
                                                               folder: Path) -> None:
    path = _checkpoint(tmp_path / "t.pt", "teacher", f"imagefolder:{folder}")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop("fc.bias")
    torch.save(payload, path)
    before = _digests(tmp_path)
    code, err = _run(monkeypatch, capsys, ["export", str(path), "-o", str(tmp_path / "t.onnx")])
    assert code == 1
    assert _error_line(err) == (f"error: {path}: the checkpoint's weights do not match its recorded model config "
                                "(tensor 'fc.bias' (2,) is missing); it is damaged or was edited: use the best.pt / "
                                "last.pt the run wrote")
    assert _digests(tmp_path) == before


def test_a_student_split_with_another_seed_than_its_teacher_is_warned_about(monkeypatch, capsys, tmp_path: Path,
                                                                           folder: Path) -> None:
    teacher = _checkpoint(tmp_path / "t.pt", "teacher", f"imagefolder:{folder}")  # trained with seed 0
    code, err = _run(monkeypatch, capsys, ["distill", "--teacher", str(teacher), "--seed", "1", "--out",
                                           str(tmp_path / "run"), "--no-cache", "-k", "2", "--anchors", "8",
                                           "--hidden", "8", "--proj-dim", "4", *TINY])
    assert code == 0, err
    assert (f"warning: teacher {teacher} was trained with --seed 0, this run has --seed 1: the seed draws the split, "
            "so the student's validation images may be ones the teacher trained on; pass --seed 0 to distil on its "
            "split") in err.splitlines()


@pytest.mark.parametrize("args, message", [
    (["--no-teacher", "--data", "digits", "--lambda", "0.5", "-T", "2"],
     "--lambda and --temperature would be ignored (distillation settings, and --no-teacher trains on labels alone): "
     "drop them"),
    (["--teacher", "t.pt", "--image-size", "16"],
     "--image-size would be ignored (the input size without a teacher; with one the student takes the teacher's "
     "preprocessing): drop it"),
    (["--no-teacher", "--data", "digits", "--graph-mode", "batch", "--label-mode", "none", "--anchors", "64",
      "--anchor-dropout", "0.5"],
     "--anchors and --anchor-dropout would be ignored (--graph-mode batch links the batch's own samples and has no "
     "anchors): drop them, or use --graph-mode anchor"),
])
def test_distill_options_the_run_would_ignore_are_refused(monkeypatch, capsys, tmp_path: Path, args: list,
                                                          message: str) -> None:
    code, err = _run(monkeypatch, capsys, ["distill", *args, "--out", str(tmp_path / "run"), *TINY])
    assert code == 1 and _error_line(err) == f"error: {message}"
    assert not (tmp_path / "run").exists()
