"""The anchor bank inside an exported student's ONNX: read its named constants, replace them in a copy.

Uses the ``onnx`` package and numpy only (no torch), so ``cnn2gnn enroll`` runs where the model runs.
"""

from __future__ import annotations

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
