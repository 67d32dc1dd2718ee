"""New anchors' rows of the bank constants, computed as the student's anchor side computes them (numpy).

For each new anchor a with node features h_a, projection z_a and label row Y_a (float64 throughout):
- its neighbours are its k nearest among the whole new bank (old and new anchors, itself excluded),
  with the closed-form weights p_aj: the anchors' own graph of ``CNN2GNNStudent.anchor_side``;
- layer l's values row is (1 - alpha) (W_l h^l_a [+ E Y_a in layer 1 with a label embedding]) + b_l,
  where W_l h = (h @ layer_weight_l) / alpha (the export folds alpha into layer_weight_l), and
  h^{l+1}_a = relu(h^l_a @ layer_weight_l + sum_j p_aj values_l[j]) = relu(alpha (W_l h + b_l) + (1 - alpha)
  sum_j p_aj messages_l[j]): the mix the anchor side applies;
- its distance constants are -2 z_a and ||z_a||^2, its target row is Y_a (which enrolment then scales
  for a class enrolled after training: ``cnn2gnn.export.enrol_anchors``), and its novelty column is its input
  to the last layer, L2-normalised.
The old anchors' rows are kept as they are (bit-identical), so existing predictions change only where
a new anchor becomes a neighbour.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def closed_form_neighbours(dist: np.ndarray, k: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(weights, index) of each row's k nearest, as ``cnn2gnn.toolchain.graph.dsgl.adaptive_neighbours``."""
    order = np.argsort(dist, axis=1, kind="stable")[:, : k + 1]
    nearest = np.take_along_axis(dist, order, axis=1)
    numer = nearest[:, k : k + 1] - nearest[:, :k] + eps
    return numer / numer.sum(axis=1, keepdims=True), order[:, :k]


def new_anchor_rows(old_z: np.ndarray, old_values: np.ndarray, layer_weights: Sequence[np.ndarray],
                    record: dict[str, Any], h: np.ndarray, z: np.ndarray, targets: np.ndarray, k: int
                    ) -> dict[str, np.ndarray]:
    """Rows of ``anchor_dist_weight`` and ``anchor_hidden`` (as columns), ``anchor_z_sq``, ``anchor_values``,
    ``anchor_targets``.

    ``old_values``, ``layer_weights`` and ``targets`` already have the model's (possibly grown) class
    columns; ``record`` is the model's ``anchor_bank`` metadata record (alpha, layer biases, E, eps).
    """
    alpha = float(record["alpha"])
    z = z.astype(np.float64)
    all_z = np.concatenate([old_z.astype(np.float64), z])
    m = len(old_z)
    dist = ((z[:, None, :] - all_z[None, :, :]) ** 2).sum(axis=2)
    dist[np.arange(len(z)), m + np.arange(len(z))] = np.inf  # an anchor is not its own neighbour
    weights, index = closed_form_neighbours(dist, k, float(record["eps"]))
    embedding = record.get("label_embedding")
    hidden, start, parts = h.astype(np.float64), 0, []
    for layer_i, weight in enumerate(layer_weights):
        weight = weight.astype(np.float64)
        width = weight.shape[1]
        bias = np.asarray(record["layer_bias"][layer_i], dtype=np.float64)
        message = hidden @ weight / alpha
        if layer_i == 0 and embedding is not None:
            message = message + targets @ np.asarray(embedding, dtype=np.float64).T
        values = (1.0 - alpha) * message + bias
        parts.append(values)
        if layer_i < len(layer_weights) - 1:
            stacked = np.concatenate([old_values[:, start : start + width].astype(np.float64), values])
            hidden = np.maximum(hidden @ weight + (weights[:, :, None] * stacked[index]).sum(axis=1), 0.0)
        start += width
    return {
        "anchor_dist_weight": (-2.0 * z).T.astype(np.float32),
        "anchor_z_sq": (z * z).sum(axis=1).astype(np.float32),
        "anchor_values": np.concatenate(parts, axis=1).astype(np.float32),
        "anchor_targets": targets.astype(np.float32),
        "anchor_hidden": (hidden / np.maximum(np.linalg.norm(hidden, axis=1, keepdims=True), 1e-12)).T.astype(np.float32),
    }
