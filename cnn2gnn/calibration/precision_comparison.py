"""FP32 vs a lower-precision copy (INT8 Q/DQ, FP16) of one model on the same images: what rounding cost."""

from __future__ import annotations

from typing import Any

import numpy as np


def compare_to_fp32(fp32: Any, other: Any, labels: np.ndarray, precision: str = "int8") -> dict[str, Any]:
    """Accuracy of each, the drop in points, top-1 agreement, |Δlogit| and neighbour-set agreement.

    ``fp32`` and ``other`` are :class:`~cnn2gnn.calibration.neighbour_outputs.ModelOutputs`; the keys
    name the precision (``int8_accuracy``, ``fp16_accuracy``).
    """
    from cnn2gnn.calibration.neighbour_outputs import neighbour_agreement
    from cnn2gnn.runtime.compare import logit_agreement

    acc32 = float((fp32.logits.argmax(axis=1) == labels).mean())
    acc_other = float((other.logits.argmax(axis=1) == labels).mean())
    agreement = logit_agreement(fp32.logits, other.logits)
    return {
        "num_images": int(len(labels)),
        "fp32_accuracy": acc32,
        f"{precision}_accuracy": acc_other,
        "accuracy_drop_points": 100.0 * (acc32 - acc_other),
        "top1_agreement": agreement["top1_agreement"],
        "mean_abs_logit_diff": agreement["mean_abs_logit_diff"],
        "max_abs_logit_diff": agreement["max_abs_logit_diff"],
        "neighbour_agreement": neighbour_agreement(fp32, other),
    }
