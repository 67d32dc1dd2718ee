"""Accuracy, per-class accuracy and confusion matrix of a model on a preprocessed split."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


def batch_slices(n: int, batch_size: int, min_last: int = 1) -> list[slice]:
    """Consecutive slices of ``batch_size``; a tail shorter than ``min_last`` joins the previous batch
    (the batch graph mode needs at least k+2 samples in every batch)."""
    bounds = list(range(0, n, batch_size)) + [n]
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    if len(slices) > 1 and slices[-1].stop - slices[-1].start < min_last:
        last = slices.pop()
        slices[-1] = slice(slices[-1].start, last.stop)
    return slices


@torch.no_grad()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int, device: torch.device | str = "cpu",
                   min_last: int = 1) -> Tensor:
    model.eval()
    outs = [model(x[s].to(device)).float().cpu() for s in batch_slices(len(x), batch_size, min_last)]
    return torch.cat(outs) if outs else torch.zeros(0)


def classification_report(logits: Tensor | np.ndarray, labels: Tensor | np.ndarray, class_names: list[str]) -> dict[str, Any]:
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
