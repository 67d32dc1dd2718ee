"""Two models (or one model on two backends) on the same images: do they agree, and how accurate is each?

Each model preprocesses with its own metadata, so a teacher and its student (different input sizes
or normalisation) compare fairly on identical raw images.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.classifier import Classifier


def _describe(backend: Runner) -> dict[str, Any]:
    return {
        "model": str(backend.path),
        "backend": backend.name,
        "providers": getattr(backend, "providers", None),
        "kind": backend.metadata.kind,
        "precision": backend.metadata.precision,
    }


def logit_agreement(logits_a: np.ndarray, logits_b: np.ndarray) -> dict[str, Any]:
    """Top-1 agreement and absolute logit differences between two (N, classes) arrays."""
    if logits_a.shape != logits_b.shape:
        raise Cnn2GnnError(f"logit shapes differ: {logits_a.shape} vs {logits_b.shape}")
    diff = np.abs(logits_a.astype(np.float64) - logits_b.astype(np.float64))
    agree = logits_a.argmax(axis=1) == logits_b.argmax(axis=1)
    return {
        "top1_agreement": float(agree.mean()),
        "disagreements": int((~agree).sum()),
        "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
    }


def compare_backends(
    backend_a: Runner,
    backend_b: Runner,
    images: Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    input_order: str = "RGB",
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Run both backends on ``images`` (uint8, ``input_order``) and compare their logits.

    With ``labels`` (indices into ``class_names``, the dataset's classes) each model's accuracy is added.
    """

    names_a, names_b = backend_a.metadata.class_names, backend_b.metadata.class_names
    if names_a != names_b:
        raise Cnn2GnnError(
            f"{backend_a.path} and {backend_b.path} predict different classes "
            f"({class_list_difference(names_a, names_b)}); compare models of one dataset"
        )
    if labels is not None and class_names is not None and list(class_names) != names_a:
        raise Cnn2GnnError(
            f"the dataset's classes are not the models' (dataset vs models: "
            f"{class_list_difference(class_names, names_a)}); compare on the dataset the models were trained on"
        )
    if len(images) == 0:
        raise Cnn2GnnError("no images to compare on")
    if batch_size < 1:
        raise Cnn2GnnError(f"batch size must be >= 1, got {batch_size}")
    a, b = Classifier(backend_a), Classifier(backend_b)
    parts_a, parts_b = [], []
    with progress_bar(total=len(images), desc="compare", unit="img", enabled=progress) as bar:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            parts_a.append(a.logits(chunk, input_order))
            parts_b.append(b.logits(chunk, input_order))
            bar.update(len(chunk))
    logits_a, logits_b = np.concatenate(parts_a), np.concatenate(parts_b)
    result: dict[str, Any] = {
        "images": len(images),
        "model_a": _describe(backend_a),
        "model_b": _describe(backend_b),
        **logit_agreement(logits_a, logits_b),
    }
    if labels is not None:
        y = np.asarray(labels)
        result["model_a"]["accuracy"] = float((logits_a.argmax(axis=1) == y).mean())
        result["model_b"]["accuracy"] = float((logits_b.argmax(axis=1) == y).mean())
    return result


def format_comparison(result: dict[str, Any]) -> str:
    lines = [f"{result['images']} images"]
    for key in ("model_a", "model_b"):
        m = result[key]
        acc = f", accuracy {m['accuracy']:.4f}" if "accuracy" in m else ""
        lines.append(f"  {key[-1].upper()}: {m['model']} [{m['backend']}; {m['kind']}, {m['precision']}]{acc}")
    lines.append(
        f"  top-1 agreement {result['top1_agreement']:.4f} ({result['disagreements']} differ); "
        f"|Δlogit| max {result['max_abs_logit_diff']:.3g}, mean {result['mean_abs_logit_diff']:.3g}"
    )
    return "\n".join(lines)
