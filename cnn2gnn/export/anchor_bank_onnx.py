"""The anchor bank inside an exported student's ONNX: read its named constants, replace them in a copy, and
checksum everything else.

Uses the ``onnx`` package and numpy only (no torch), so ``cnn2gnn enroll`` and ``cnn2gnn refit`` run where
the model runs.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from cnn2gnn.contracts.anchor_bank import BANK_CONSTANTS, DISTANCE_CONSTANTS
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNX_HINT, lazy_import


def bank_constants(model: Any, source: str) -> dict[str, np.ndarray]:
    """The bank's initializers of ``model`` (an ``onnx.ModelProto``) by name; refuses a model without a bank."""
    onnx = lazy_import("onnx", ONNX_HINT, "reading the anchor bank")
    found = {init.name: onnx.numpy_helper.to_array(init) for init in model.graph.initializer
             if init.name in BANK_CONSTANTS}
    missing = [name for name in DISTANCE_CONSTANTS if name not in found]
    if missing:
        raise Cnn2GnnError(f"{source}: no anchor bank (initializers {', '.join(missing)} are missing): only an "
                           "anchor-mode CNN2GNN student exported by `cnn2gnn export` has one")
    return found


def with_bank_constants(model: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """A copy of ``model`` whose named initializers are replaced by ``arrays`` (same names, new values)."""
    onnx = lazy_import("onnx", ONNX_HINT, "writing the anchor bank")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for init in copy.graph.initializer:
        if init.name in arrays:
            init.CopyFrom(onnx.numpy_helper.from_array(np.asarray(arrays[init.name], order="C"), init.name))
    return copy


def non_bank_checksum(model: Any) -> str:
    """sha256 of what a change of the anchor bank leaves alone in ``model``: opsets, the image input, the
    outputs' names and types, every node, and every initializer outside ``BANK_CONSTANTS`` (name, dtype,
    shape, values).

    Two models with equal checksums differ at most in their bank constants, so an engine built from one
    computes the other once its bank weights are refitted. Left out: the metadata (it records the bank),
    inferred intermediate shapes (enrolment drops them) and the outputs' shapes (they follow from the
    weights: a new class grows the last layer's weight, which is covered)."""
    onnx = lazy_import("onnx", ONNX_HINT, "checksumming the model outside its anchor bank")
    digest = hashlib.sha256()
    for opset in model.opset_import:
        digest.update(f"opset|{opset.domain}|{opset.version}|".encode())
    graph = model.graph
    initializers = sorted(graph.initializer, key=lambda init: init.name)
    names = {init.name for init in initializers}
    for value in graph.input:
        if value.name not in names:
            digest.update(b"input|" + value.SerializeToString(deterministic=True))
    for value in graph.output:
        digest.update(f"output|{value.name}|{value.type.tensor_type.elem_type}|".encode())
    for node in graph.node:
        digest.update(b"node|" + node.SerializeToString(deterministic=True))
    for init in initializers:
        if init.name in BANK_CONSTANTS:
            continue
        array = np.ascontiguousarray(onnx.numpy_helper.to_array(init))
        digest.update(f"initializer|{init.name}|{array.dtype.str}|{list(array.shape)}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
