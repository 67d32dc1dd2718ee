from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.classification_report import plot_confusion
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, save_checkpoint
from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint


@pytest.fixture(scope="module")
def student_reports(tiny_student_ckpt: Path) -> dict[int, dict]:
    return {b: evaluate_checkpoint(tiny_student_ckpt, None, "test", batch_size=b, device="cpu") for b in (1, 64)}


def test_anchor_mode_accuracy_does_not_depend_on_batch_size(student_reports: dict[int, dict]) -> None:
    one, many = student_reports[1], student_reports[64]
    assert one["graph_mode"] == "anchor"
    assert one["accuracy"] == many["accuracy"]
    assert one["confusion_matrix"] == many["confusion_matrix"]
    assert (one["batch_size"], many["batch_size"]) == (1, 64)


def test_report_is_consistent(student_reports: dict[int, dict]) -> None:
    report = student_reports[64]
    cm = np.asarray(report["confusion_matrix"])
    assert report["kind"] == "student" and report["split"] == "test" and report["data"] == "digits"
    assert cm.shape == (10, 10) and cm.sum() == report["num_samples"] == len(load_dataset("digits").split("test"))
    assert report["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    for i, name in enumerate(report["class_names"]):
        assert report["per_class_accuracy"][name] == pytest.approx(cm[i, i] / cm[i].sum())
    assert report["accuracy"] > 0.3  # a distilled student, not chance (0.1)


def test_plot_writes_a_png(student_reports: dict[int, dict], tmp_path: Path) -> None:
    path = plot_confusion(student_reports[64], tmp_path / "plots" / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["cm.png"]


def test_batch_mode_checkpoint_needs_k_plus_2_per_batch(tiny_student_ckpt: Path, tmp_path: Path) -> None:
    payload = load_checkpoint(tiny_student_ckpt)
    payload.model_config = {**payload.model_config, "graph_mode": "batch"}  # same weights, the paper's graph
    path = save_checkpoint(tmp_path / "batch.pt", payload)
    with pytest.raises(Cnn2GnnError, match="batch size >= 7"):
        evaluate_checkpoint(path, None, "test", batch_size=4, device="cpu")
    n = len(load_dataset("digits").split("test"))
    assert 0 < n % 71 < 7  # a tail too small for the batch graph: it must join the previous batch
    report = evaluate_checkpoint(path, None, "test", batch_size=71, device="cpu")
    assert report["graph_mode"] == "batch" and report["num_samples"] == n


def test_teacher_evaluates_on_other_splits(tiny_teacher_ckpt: Path) -> None:
    report = evaluate_checkpoint(tiny_teacher_ckpt, "digits", "val", batch_size=256, device="cpu")
    best = load_checkpoint(tiny_teacher_ckpt)
    assert report["kind"] == "teacher"
    # the validation split re-drawn with the run's seed is the one training measured
    assert report["accuracy"] == pytest.approx(best.training.best_val_accuracy, abs=1e-6)


def test_unknown_split_is_a_user_error(tiny_teacher_ckpt: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="unknown split"):
        evaluate_checkpoint(tiny_teacher_ckpt, None, "holdout", device="cpu")
