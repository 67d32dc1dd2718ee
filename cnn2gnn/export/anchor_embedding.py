"""A student's own node features h and projection z of new images, computed by its exported ONNX.

Enrolment must embed new anchors exactly as the deployed model embeds a query: the same stem, the
same float32 kernels. The model's own graph does that; an in-memory copy lists the two internal tensors
as extra outputs (found by structure: the A inputs of the Gemms that read ``anchor_dist_weight`` and
``layer_weight_0``), and ONNX Runtime runs it. The file on disk is never changed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNX_HINT, ONNXRUNTIME_HINT, lazy_import

EMBED_BATCH = 256  # images per run: the model's distance Gemm to the whole bank grows with the batch


def gemm_input_reading(model: Any, weight: str, source: str) -> str:
    """The tensor the Gemm (or MatMul) multiplying by initializer ``weight`` reads: a layer's input, found by
    structure, never by node names."""
    for node in model.graph.node:
        if node.op_type in ("Gemm", "MatMul") and len(node.input) > 1 and node.input[1] == weight:
            return str(node.input[0])
    raise Cnn2GnnError(f"{source}: no Gemm reads {weight!r}, so its node features cannot be found; "
                       "enrol into a model exported by `cnn2gnn export` (FP32, not calibrated)")


def internal_outputs(model: Any, x: np.ndarray, input_name: str, names: Sequence[str]) -> list[np.ndarray]:
    """The tensors ``names`` of ``model`` (graph outputs or internal ones) for the preprocessed float32 batch ``x``,
    run by ONNX Runtime on an in-memory copy that lists them as outputs, :data:`EMBED_BATCH` images at a time."""
    onnx = lazy_import("onnx", ONNX_HINT, "embedding images with the model")
    ort = lazy_import("onnxruntime", ONNXRUNTIME_HINT, "embedding images with the model")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {o.name for o in copy.graph.output}
    for name in names:
        if name not in present:
            copy.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(copy.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(x, dtype=np.float32)
    parts = [session.run(list(names), {input_name: x[i : i + EMBED_BATCH]}) for i in range(0, len(x), EMBED_BATCH)]
    return [np.concatenate([np.asarray(p[j]) for p in parts]) for j in range(len(names))]


def embed_images(model: Any, x: np.ndarray, input_name: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(h, z) of the preprocessed float32 batch ``x``: node features (N, F) and centred projections (N, P)."""
    h, z = internal_outputs(model, x, input_name, [gemm_input_reading(model, "layer_weight_0", source),
                                                   gemm_input_reading(model, "anchor_dist_weight", source)])
    return h.reshape(len(x), -1), z
