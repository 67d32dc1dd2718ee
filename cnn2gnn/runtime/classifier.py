"""Images in, labelled top-k predictions out: preprocessing comes from the model's metadata alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import COLOR_ORDERS, preprocess_images
from cnn2gnn.runtime.backends.runner import Runner


@dataclass(frozen=True)
class Prediction:
    """The ``top_k`` classes of one image, best first: names, softmax probabilities, class indices."""

    labels: list[str]
    scores: list[float]
    indices: list[int]


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

    def preprocess(self, images: Sequence[np.ndarray], input_order: str = "BGR") -> np.ndarray:
        """uint8 HxW / HxWxC images (``input_order`` says whether colour ones are OpenCV's BGR or RGB)."""
        if input_order not in COLOR_ORDERS:
            raise Cnn2GnnError(f"input_order {input_order!r} unknown; use one of {COLOR_ORDERS}")
        return preprocess_images(images, self.metadata.preprocessing, input_order=input_order)

    def logits(self, images: Sequence[np.ndarray], input_order: str = "BGR") -> np.ndarray:
        return self.backend.infer(self.preprocess(images, input_order))

    def classify(self, images: Sequence[np.ndarray], input_order: str = "BGR", top_k: int = 5) -> list[Prediction]:
        """Top-``top_k`` predictions per image. OpenCV frames are BGR, hence the default."""
        if top_k < 1:
            raise Cnn2GnnError(f"top_k must be >= 1, got {top_k}")
        probs = softmax(self.logits(images, input_order))
        k = min(top_k, probs.shape[1])
        # Stable sort so equal scores keep class order and results are reproducible.
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        names = self.metadata.class_names
        return [
            Prediction(
                labels=[names[i] for i in row],
                scores=[float(probs[n, i]) for i in row],
                indices=[int(i) for i in row],
            )
            for n, row in enumerate(order)
        ]
