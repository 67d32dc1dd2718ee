"""A deployed model measured the way its checkpoint was: accuracy, per-class accuracy and confusion matrix.

The ONNX model or engine runs through its runtime backend on the raw images of a dataset split,
preprocessed from its own metadata, and the report is :func:`classification_report`'s, the same as
``cnn2gnn evaluate`` gives for a checkpoint; so an INT8 or FP16 artifact's accuracy compares 1:1.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.classification_report import classification_report
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.classifier import Classifier


def evaluate_runner(
    runner: Runner,
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    class_names: Sequence[str],
    batch_size: int = 64,
    input_order: str = "RGB",
    progress: bool = True,
) -> dict[str, Any]:
    """The classification report of ``runner`` on ``images`` (uint8, ``input_order``) whose ``labels``
    index ``class_names``, the dataset's classes, which must be the model's."""

    model_classes = list(runner.metadata.class_names)
    if list(class_names) != model_classes:
        raise Cnn2GnnError(
            f"{runner.path} predicts the classes {model_classes[:5]}{'...' if len(model_classes) > 5 else ''}, the "
            f"dataset has {list(class_names)[:5]}{'...' if len(class_names) > 5 else ''}: evaluate it on the dataset "
            "it was trained on"
        )
    if batch_size < 1:
        raise Cnn2GnnError(f"--batch-size must be >= 1, got {batch_size}")
    if runner.max_batch is not None and batch_size > runner.max_batch:
        raise Cnn2GnnError(
            f"{runner.path} accepts batches of at most {runner.max_batch}: use --batch-size {runner.max_batch} or less"
        )
    if len(images) == 0:
        raise Cnn2GnnError("no images to evaluate on: the split is empty")
    classifier = Classifier(runner)
    parts = []
    with progress_bar(total=len(images), desc="evaluate", unit="img", enabled=progress) as bar:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            parts.append(classifier.logits(chunk, input_order))
            bar.update(len(chunk))
    report = classification_report(np.concatenate(parts), labels, model_classes)
    return {
        "model": str(runner.path),
        "backend": runner.name,
        "kind": runner.metadata.kind,
        "precision": runner.metadata.precision,
        "batch_size": batch_size,
        "graph_mode": (runner.metadata.graph or {}).get("mode"),
        **report,
    }
