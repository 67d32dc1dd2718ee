from __future__ import annotations

import numpy as np
import pytest
import torch

from cnn2gnn.toolchain.training.evaluate import batch_slices, classification_report, predict_logits


def _sizes(slices: list[slice]) -> list[int]:
    return [s.stop - s.start for s in slices]


def test_batch_slices_cover_everything_once() -> None:
    assert _sizes(batch_slices(10, 4)) == [4, 4, 2]
    assert _sizes(batch_slices(10, 4, min_last=3)) == [4, 6]  # the short tail joins the batch before it
    assert _sizes(batch_slices(10, 5, min_last=3)) == [5, 5]
    assert _sizes(batch_slices(2, 4, min_last=3)) == [2]  # a lone batch stays (the model says it is too small)
    assert batch_slices(0, 4) == []
    covered = np.concatenate([np.arange(s.start, s.stop) for s in batch_slices(103, 8, min_last=7)])
    assert covered.tolist() == list(range(103))


def test_classification_report_by_hand() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0, 0])
    logits = np.eye(4)[pred][:, :3]  # class 3 unused: 3 classes
    report = classification_report(logits, labels, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["num_samples"] == 6
    assert report["per_class_accuracy"] == {"a": 0.5, "b": pytest.approx(2 / 3), "c": 0.0}
    assert report["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]  # rows: true, columns: predicted
    assert report["class_names"] == ["a", "b", "c"]


def test_class_without_samples_has_no_accuracy() -> None:
    report = classification_report(np.array([[1.0, 0.0, 0.0]]), np.array([0]), ["a", "b", "c"])
    assert report["per_class_accuracy"] == {"a": 1.0, "b": None, "c": None}


def test_predict_logits_is_eval_mode_and_batch_size_free() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Dropout(0.9), torch.nn.Linear(8, 3))
    model.train()
    x = torch.randn(11, 1, 4, 4)
    a = predict_logits(model, x, 1)
    b = predict_logits(model, x, 64)
    assert not model.training
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, model(x).detach())
