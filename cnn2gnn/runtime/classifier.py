"""Images in, labelled top-k predictions out: preprocessing comes from the model's metadata alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.anchor_bank import (
    NEIGHBOUR_INDEX,
    NEIGHBOUR_WEIGHT,
    NOT_EXPLAINABLE,
    NOVELTY,
    anchor_labels,
    novelty_threshold,
)
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import COLOR_ORDERS, preprocess_images
from cnn2gnn.runtime.backends.runner import Runner


@dataclass(frozen=True)
class Prediction:
    """The ``top_k`` classes of one image, best first: names, softmax probabilities, class indices; for a
    student with neighbour outputs also its novelty, ``unknown`` (novelty above the model's open-set
    threshold) and, when explained, its k anchors (bank index, label, weight), nearest first."""

    labels: list[str]
    scores: list[float]
    indices: list[int]
    novelty: float | None = None
    unknown: bool | None = None  # None: the model has no open-set threshold
    neighbours: list[dict[str, Any]] | None = None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, shifted by the row max so large logits do not overflow."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """Wraps a loaded :class:`Runner`; every image is preprocessed as the model was trained."""

    def __init__(self, backend: Runner) -> None:
        self.backend = backend
        self.metadata = backend.metadata
        outputs = backend.output_names
        self.novelty_threshold = novelty_threshold(self.metadata) if NOVELTY in outputs else None
        self.explainable = NEIGHBOUR_INDEX in outputs and NEIGHBOUR_WEIGHT in outputs
        self._anchor_labels = anchor_labels(self.metadata)

    def preprocess(self, images: Sequence[np.ndarray], input_order: str = "BGR") -> np.ndarray:
        """uint8 HxW / HxWxC images (``input_order`` says whether colour ones are OpenCV's BGR or RGB)."""
        if input_order not in COLOR_ORDERS:
            raise Cnn2GnnError(f"input_order {input_order!r} unknown; use one of {COLOR_ORDERS}")
        return preprocess_images(images, self.metadata.preprocessing, input_order=input_order)

    def logits(self, images: Sequence[np.ndarray], input_order: str = "BGR") -> np.ndarray:
        return self._checked(self.backend.infer(self.preprocess(images, input_order)))

    def _checked(self, logits: np.ndarray) -> np.ndarray:
        """``logits``, refused unless there is one per class name: predictions are labelled by the metadata
        alone, and logits of another width would get wrong labels or none."""
        names = len(self.metadata.class_names)
        if logits.ndim != 2 or logits.shape[1] != names:
            raise Cnn2GnnError(
                f"{self.backend.path}: its output {self.metadata.output_name!r} has shape {list(logits.shape)}, but its "
                f"metadata lists {names} class names (expected [N, {names}], one logit per class): model and metadata "
                "do not belong together; re-export the model with `cnn2gnn export`"
            )
        return logits

    def require_explainable(self) -> None:
        """Refuse a model whose predictions ``classify(..., explain=True)`` cannot explain."""
        if not (self.explainable and self._anchor_labels is not None):
            raise Cnn2GnnError(f"{self.backend.path} {NOT_EXPLAINABLE}")

    def classify(self, images: Sequence[np.ndarray], input_order: str = "BGR", top_k: int = 5,
                 explain: bool = False) -> list[Prediction]:
        """Top-``top_k`` predictions per image. OpenCV frames are BGR, hence the default. ``explain`` adds
        each image's anchors (needs a student exported with neighbour outputs)."""
        if top_k < 1:
            raise Cnn2GnnError(f"top_k must be >= 1, got {top_k}")
        if explain:
            self.require_explainable()
        x = self.preprocess(images, input_order)
        extras = explain or self.novelty_threshold is not None
        outputs = self.backend.infer_outputs(x) if extras else {self.metadata.output_name: self.backend.infer(x)}
        probs = softmax(self._checked(outputs[self.metadata.output_name]))
        k = min(top_k, probs.shape[1])
        # Stable sort so equal scores keep class order and results are reproducible.
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        names = self.metadata.class_names
        novelty = outputs.get(NOVELTY)
        return [
            Prediction(
                labels=[names[i] for i in row],
                scores=[float(probs[n, i]) for i in row],
                indices=[int(i) for i in row],
                novelty=None if novelty is None else float(novelty[n]),
                unknown=None if self.novelty_threshold is None else bool(novelty[n] > self.novelty_threshold),
                neighbours=self._neighbours(outputs, n) if explain else None,
            )
            for n, row in enumerate(order)
        ]

    def _neighbours(self, outputs: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
        labels, names = self._anchor_labels or [], self.metadata.class_names
        return [{"anchor": int(j), "label": names[labels[int(j)]], "weight": float(w)}
                for j, w in zip(outputs[NEIGHBOUR_INDEX][n], outputs[NEIGHBOUR_WEIGHT][n])]
