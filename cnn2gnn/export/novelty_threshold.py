"""The open-set threshold: the novelty below which a stated share (TPR) of validation images falls.

``run`` reports a frame as ``unknown`` when its novelty (cosine distance from its hidden features before the
last layer to the angularly nearest anchor's) is above the threshold, so on data like the validation split a fraction 1 - TPR of
known-class images is rejected. The validation split is the training run's own (its split seed), never
the test split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from cnn2gnn.contracts.anchor_bank import NOVELTY
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNXRUNTIME_HINT, lazy_import

if TYPE_CHECKING:
    from cnn2gnn.toolchain.training.checkpoint import Checkpoint


def check_unknown_tpr(tpr: float) -> None:
    """``tpr`` as a share of known images to accept: strictly between 0 and 1 (NaN is refused)."""
    if not 0.0 < tpr < 1.0:
        raise Cnn2GnnError(f"--unknown-tpr must be between 0 and 1 (e.g. 0.95: 95% of known images accepted), got {tpr}")


def validation_images(checkpoint: "Checkpoint") -> np.ndarray:
    """The checkpoint's own validation split, preprocessed as it was trained."""
    from cnn2gnn.toolchain.data import load_dataset
    from cnn2gnn.toolchain.data.tensors import tensors_from_split

    dataset = load_dataset(checkpoint.dataset_spec, seed=checkpoint.train_seed)
    return tensors_from_split(dataset.split("val"), checkpoint.preprocessing).x.numpy()


def novelty_threshold(model_bytes: bytes, input_name: str, x: np.ndarray, tpr: float, batch_size: int = 256
                      ) -> dict[str, Any]:
    """Run the model's ``novelty`` output on ``x`` (known-class images) and pick the threshold keeping ``tpr``."""
    ort = lazy_import("onnxruntime", ONNXRUNTIME_HINT, "choosing the novelty threshold (--unknown-tpr)")
    check_unknown_tpr(tpr)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    if NOVELTY not in [o.name for o in session.get_outputs()]:
        raise Cnn2GnnError("--unknown-tpr needs the novelty output: export the anchor-mode student with "
                           "--neighbour-outputs (the default)")
    if len(x) == 0:
        raise Cnn2GnnError("--unknown-tpr needs validation images, and the checkpoint's validation split is empty")
    scores = np.concatenate([session.run([NOVELTY], {input_name: x[i : i + batch_size]})[0]
                             for i in range(0, len(x), batch_size)])
    threshold = float(np.quantile(scores.astype(np.float64), tpr, method="higher"))
    return {"threshold": threshold, "tpr": tpr, "measured_tpr": float((scores <= threshold).mean()),
            "split": "val", "num_images": int(len(x)), "score": "1 - max cosine to any anchor's hidden features"}
