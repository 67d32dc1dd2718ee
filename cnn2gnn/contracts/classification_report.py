"""What ``cnn2gnn evaluate`` reports for a checkpoint, an ONNX model or an engine alike: accuracy, per-class
accuracy and the confusion matrix, as numbers and as a PNG.

Torch-free (numpy; matplotlib only for the PNG), so the deployed artifact on a Jetson is measured by the
same code as the checkpoint it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from cnn2gnn.contracts.atomic_io import atomic_path
from cnn2gnn.contracts.lazy_import import lazy_import


def classification_report(logits: ArrayLike, labels: ArrayLike, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class accuracy (None for a class without samples) and the confusion matrix (rows: true
    class, columns: predicted) of ``logits`` (N, classes) against integer ``labels``."""
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    pred = logits.argmax(axis=1)
    c = len(class_names)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    support = confusion.sum(axis=1)
    per_class = {
        name: (float(confusion[i, i] / support[i]) if support[i] else None) for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float((pred == labels).mean()) if len(labels) else 0.0,
        "num_samples": int(len(labels)),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
        "class_names": list(class_names),
    }


def plot_confusion(report: dict[str, Any], path: Path) -> Path:
    """The confusion matrix of ``report`` as a PNG at ``path`` (written atomically)."""
    matplotlib = lazy_import("matplotlib", "pip install matplotlib", "--plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(report["confusion_matrix"])
    names = report["class_names"]
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(names) + 2),) * 2)
    ax.imshow(cm, cmap="Blues")
    if len(names) <= 30:
        ax.set_xticks(range(len(names)), names, rotation=90)
        ax.set_yticks(range(len(names)), names)
        for i in range(len(names)):
            for j in range(len(names)):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['kind']} on {report['data']} ({report['split']}): acc {report['accuracy']:.4f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
