"""Reserved room in an anchor bank: empty slots after the used rows, so enrolment keeps the constants' shapes.

TensorRT refits weights only with the element count they had at build time, so a bank that is to grow
inside a built engine must be padded when it is exported (``cnn2gnn export --bank-capacity N``) and
enrolment must fill the padding instead of appending rows. An empty slot has a zero ``anchor_dist_weight``
column (-2 z_a = 0), zero ``anchor_values`` and ``anchor_targets`` rows, a zero ``anchor_hidden`` column (a
cosine of 0 with any image, never above a real anchor's where the features are ReLU outputs: a student of two
or more layers; a one-layer student on raw pixels can see novelty capped at 1), and ``anchor_z_sq`` =
:data:`EMPTY_SLOT_Z_SQ`. Its distance to any image, ||z_a||^2 - 2 z.z_a, is then exactly that value (the
Gemm adds 0 to it), so:

- it is finite: no inf or NaN reaches TopK or the closed-form weights;
- it is larger than every real distance: a real one reaching 1e30 needs |z| |z_a| >= 5e29, i.e. with
  anchor projections of norm ~10, |z| ~ 1e28, where images project to norms of order 10-100;
- with at least k+1 real anchors, the k+1 nearest (TopK's K: the k neighbours and the threshold
  distance of the closed form) are always real ones, so an empty slot never becomes a neighbour, never
  enters ``neighbour_index`` and never changes a weight: the padded model computes what the unpadded
  one does.

Numpy only (plus ``onnx`` for :func:`with_bank_capacity`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from cnn2gnn.contracts.anchor_bank import MAX_BANK_SIZE
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import topk_size
from cnn2gnn.export.anchor_bank_onnx import bank_constants, with_bank_constants

EMPTY_SLOT_Z_SQ = np.float32(1e30)
# The axis along which each bank constant holds one entry per anchor (label_scale is a scalar: none).
ROW_AXIS = {"anchor_dist_weight": 1, "anchor_z_sq": 0, "anchor_values": 0, "anchor_targets": 0, "anchor_hidden": 1}


def bank_rows(constants: Mapping[str, np.ndarray]) -> int:
    """The number of rows (anchors or slots) the bank constants hold."""
    return int(constants["anchor_z_sq"].shape[0])


def padded_bank(constants: Mapping[str, np.ndarray], capacity: int, k: int, option: str = "--bank-capacity"
                ) -> dict[str, np.ndarray]:
    """``constants`` (used rows only) padded with empty slots to ``capacity`` rows; refuses a capacity below
    the used rows, above the bank limit, or a bank too small to keep its k+1 nearest real (``option`` names
    the setting in the message)."""
    used = bank_rows(constants)
    if used < topk_size(k):
        raise Cnn2GnnError(f"{option}: the bank holds {used} anchors; reserved room needs at least k+1 = "
                           f"{topk_size(k)} real ones, so that the k+1 nearest anchors of an image are never empty slots")
    if not used <= capacity <= MAX_BANK_SIZE:
        raise Cnn2GnnError(f"{option} {capacity}: give {used} (the anchors the bank holds) to {MAX_BANK_SIZE}; "
                           "the rows above the used ones are what `cnn2gnn enroll` can fill without changing shapes")
    out = dict(constants)
    for name, axis in ROW_AXIS.items():
        if name in constants:
            widths = [(0, 0)] * constants[name].ndim
            widths[axis] = (0, capacity - used)
            fill = EMPTY_SLOT_Z_SQ if name == "anchor_z_sq" else 0.0
            out[name] = np.pad(constants[name], widths, constant_values=fill)
    return out


def unpadded_bank(constants: Mapping[str, np.ndarray], used: int) -> dict[str, np.ndarray]:
    """The first ``used`` rows of each bank constant: the anchors without the empty slots."""
    out = dict(constants)
    for name, axis in ROW_AXIS.items():
        if name in constants:
            out[name] = np.take(constants[name], np.arange(used), axis=axis)
    return out


def with_bank_capacity(model: Any, capacity: int, k: int, source: str) -> Any:
    """A copy of the exported student ``model`` (an ``onnx.ModelProto`` whose bank has no empty slots) with
    its bank padded to ``capacity`` rows; nodes and every other initializer are untouched."""
    out = with_bank_constants(model, padded_bank(bank_constants(model, source), capacity, k))
    # Inferred intermediate shapes name the old bank size; runtimes infer them again.
    del out.graph.value_info[:]
    return out
