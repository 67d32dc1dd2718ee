"""What a Q/DQ model actually quantises, read back from its graph: scales, zero points, quantised nodes."""

from __future__ import annotations

from typing import Any

import numpy as np


def _initializers(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def qdq_scales(model: Any) -> dict[str, Any]:
    """Per-tensor activation scales, per-channel weight scale summaries, and whether every zero point is 0."""
    inits = _initializers(model)
    activations: dict[str, float] = {}
    weights: dict[str, dict[str, Any]] = {}
    zero_points_zero = True
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        scale = inits.get(node.input[1])
        if scale is None:
            continue
        if len(node.input) > 2 and node.input[2] in inits:
            zero_points_zero &= bool(np.all(inits[node.input[2]] == 0))
        if node.op_type == "QuantizeLinear" and node.input[0] not in inits:
            activations[node.input[0]] = float(np.asarray(scale).reshape(-1)[0])
        elif node.op_type == "DequantizeLinear" and node.input[0] in inits:
            s = np.asarray(scale, dtype=np.float64).reshape(-1)
            weights[node.input[0]] = {
                "dtype": str(inits[node.input[0]].dtype),
                "channels": int(s.size),
                "per_channel": bool(s.size > 1),
                "scale_min": float(s.min()),
                "scale_max": float(s.max()),
                "scale_mean": float(s.mean()),
            }
    return {"activations": activations, "weights": weights, "zero_points_all_zero": zero_points_zero}


def quantized_nodes(model: Any) -> list[str]:
    """Names of the compute nodes that read at least one dequantised (INT8) input, in graph order."""
    dq_outputs = {t for n in model.graph.node if n.op_type == "DequantizeLinear" for t in n.output}
    return [
        n.name
        for n in model.graph.node
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and any(t in dq_outputs for t in n.input)
    ]


def qdq_node_counts(model: Any) -> dict[str, int]:
    ops = [n.op_type for n in model.graph.node]
    return {"QuantizeLinear": ops.count("QuantizeLinear"), "DequantizeLinear": ops.count("DequantizeLinear")}
