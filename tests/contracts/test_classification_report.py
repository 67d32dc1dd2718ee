from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.classification_report import classification_report


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
