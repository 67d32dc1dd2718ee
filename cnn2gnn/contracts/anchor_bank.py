"""The anchor bank an exported student carries: its named constants, extra outputs and metadata record.

An anchor-mode student's ONNX keeps the bank as separate named initializers, so a tool (``cnn2gnn
enroll``) can edit it without retraining:

- ``anchor_dist_weight`` (P x M) = -2 z_a^T and ``anchor_z_sq`` (M) = ||z_a||^2: distances up to ||z||^2;
- ``anchor_values`` (M x (hidden_1 + ... + C)): the learned messages every layer gathers (bias folded in);
- ``anchor_targets`` (M x C) and ``label_scale`` (beta): the label term beta * sum_j p_ij Y_j, present
  only for a student whose label_mode is ``lp`` or ``both``;
- ``anchor_hidden`` (H x M): the anchors' L2-normalised input to the last layer, the novelty's (present with
  the extra outputs; a model exported before it had the novelty in the projection instead).

Optional extra outputs after ``logits`` (output 0): ``neighbour_index`` (B x k, int32:
TensorRT 8.x cannot output int64, and a bank stays far below 2^31 anchors),
``neighbour_weight`` (B x k) and ``novelty`` (B: 1 - the largest cosine between the sample's input to the last
layer and any anchor's, deep-kNN on L2-normalised features; higher = more novel; 0 to 1 where that input is a
ReLU output, as in every student of two or more layers, up to 2 for a one-layer student on raw pixels).
The metadata record lives under ``extra["anchor_bank"]``: ``size`` is the number of anchors in use and, for
a bank exported with reserved room (``cnn2gnn export --bank-capacity``), ``capacity`` the number of rows the
constants hold (empty slots after the used rows; ``cnn2gnn.export.anchor_bank_capacity``). Torch-free.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata

DISTANCE_CONSTANTS = ("anchor_dist_weight", "anchor_z_sq", "anchor_values")
LABEL_CONSTANTS = ("anchor_targets", "label_scale")
NOVELTY_CONSTANTS = ("anchor_hidden",)
BANK_CONSTANTS = DISTANCE_CONSTANTS + LABEL_CONSTANTS + NOVELTY_CONSTANTS
NEIGHBOUR_INDEX, NEIGHBOUR_WEIGHT, NOVELTY = "neighbour_index", "neighbour_weight", "novelty"
EXTRA_OUTPUTS = (NEIGHBOUR_INDEX, NEIGHBOUR_WEIGHT, NOVELTY)
BANK_KEY = "anchor_bank"
# M beyond this is a mistake, not a bank: the distance Gemm and every engine grow linearly with it.
MAX_BANK_SIZE = 1_000_000


def bank_checksum(constants: Mapping[str, np.ndarray]) -> str:
    """sha256 over the bank constants present (name, dtype, shape, bytes), in ``BANK_CONSTANTS`` order.

    Callers pass the used rows only (a padded bank without its empty slots), so a bank's checksum does not
    depend on the room reserved for it."""
    digest = hashlib.sha256()
    for name in BANK_CONSTANTS:
        if name not in constants:
            continue
        array = np.ascontiguousarray(constants[name])
        digest.update(f"{name}|{array.dtype.str}|{list(array.shape)}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def bank_record(metadata: ModelMetadata, source: str) -> dict[str, Any]:
    """The ``anchor_bank`` record of a student's metadata, or a Cnn2GnnError saying how to get one."""
    record = (metadata.extra or {}).get(BANK_KEY)
    if not isinstance(record, dict):
        raise Cnn2GnnError(
            f"{source}: the model has no anchor bank record (extra.{BANK_KEY} in its metadata): it is a teacher, "
            "a CNN student, or was exported by an older cnn2gnn; re-export an anchor-mode student with `cnn2gnn export`"
        )
    return record


# What a model that cannot explain its predictions is told, wherever that is found out (metadata or runtime outputs).
NOT_EXPLAINABLE = ("cannot explain its predictions: only an anchor-mode student exported with neighbour outputs can "
                   "(`cnn2gnn export CKPT -o model.onnx`, --neighbour-outputs is the default)")


def require_explanation_outputs(metadata: ModelMetadata, source: str) -> dict[str, Any]:
    """The bank record of a model whose metadata says it exports its neighbours, or the error (read off the metadata,
    before a dataset is loaded or an engine built)."""
    record = (metadata.extra or {}).get(BANK_KEY)
    outputs = record.get("outputs", []) if isinstance(record, dict) else []
    if not isinstance(record, dict) or not {NEIGHBOUR_INDEX, NEIGHBOUR_WEIGHT} <= set(outputs):
        raise Cnn2GnnError(f"{source} {NOT_EXPLAINABLE}")
    return record


def bank_capacity(record: Mapping[str, Any]) -> int:
    """The rows the bank's constants hold: the reserved capacity, or (a bank without room) its size."""
    return int(record.get("capacity", record["size"]))


def has_label_term(record: Mapping[str, Any]) -> bool:
    return record.get("label_mode") in ("lp", "both")


def anchor_labels(metadata: ModelMetadata) -> list[int] | None:
    """Each anchor's class index (the bank's order), or None for a model without a bank record."""
    record = (metadata.extra or {}).get(BANK_KEY)
    return [int(v) for v in record["anchor_labels"]] if isinstance(record, dict) else None


def novelty_threshold(metadata: ModelMetadata) -> float | None:
    """The open-set threshold chosen on validation data (novelty above it: ``unknown``), if any."""
    record = (metadata.extra or {}).get(BANK_KEY)
    chosen = record.get("novelty_threshold") if isinstance(record, dict) else None
    return float(chosen["threshold"]) if isinstance(chosen, dict) else None
