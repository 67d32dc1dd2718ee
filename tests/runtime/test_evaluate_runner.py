"""A deployed model's classification report, torch-free, batch-size independent."""

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.classifier import Classifier
from cnn2gnn.runtime.evaluate_runner import evaluate_runner


def test_report_matches_the_classifier_and_ignores_batch_size(student_model, digits):
    images, labels = digits.test.images[:70], digits.test.labels[:70]
    with load_backend(student_model.path, threads=1) as loaded:
        one = evaluate_runner(loaded, images, labels, digits.class_names, batch_size=1, progress=False)
        many = evaluate_runner(loaded, images, labels, digits.class_names, batch_size=64, progress=False)
        predicted = Classifier(loaded).logits(images, "RGB").argmax(axis=1)
    assert one["accuracy"] == many["accuracy"] == pytest.approx(float((predicted == labels).mean()))
    assert one["confusion_matrix"] == many["confusion_matrix"]
    assert np.asarray(many["confusion_matrix"]).sum() == 70
    assert many["backend"] == "onnxruntime" and many["model"] == str(student_model.path)


def test_refuses_another_datasets_classes_and_empty_splits(student_model, digits):
    with load_backend(student_model.path, threads=1) as loaded:
        with pytest.raises(Cnn2GnnError, match="evaluate it on the dataset it was trained on"):
            evaluate_runner(loaded, digits.test.images[:5], digits.test.labels[:5], list("abcdefghij"),
                            progress=False)
        with pytest.raises(Cnn2GnnError, match="the split is empty"):
            evaluate_runner(loaded, [], np.zeros(0, dtype=np.int64), digits.class_names, progress=False)
        with pytest.raises(Cnn2GnnError, match="--batch-size must be >= 1"):
            evaluate_runner(loaded, digits.test.images[:5], digits.test.labels[:5], digits.class_names, 0)
