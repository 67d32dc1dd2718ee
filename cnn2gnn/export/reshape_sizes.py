"""Reshapes that cannot work: a constant target shape whose element count differs from its input's.

ONNX shape inference does not compare element counts, so a model whose input shape was edited (a
16x16 export declared as 32x32) passes ``onnx.checker`` and fails only when ONNX Runtime or TensorRT
runs its first Reshape. Here the inferred input shape of every Reshape with a constant target is
compared symbolically: the dynamic batch stays a symbol, so a mismatch is found without running
anything.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable, Iterator


def _inferred_shapes(model: Any) -> dict[str, list[int | str]]:
    """Every value's shape after ONNX shape inference; dimensions with neither a value nor a name are left out."""
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model)
    shapes: dict[str, list[int | str]] = {}
    graph = inferred.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims: list[int | str] = []
        for dim in tensor.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(str(dim.dim_param))
            else:
                break
        else:
            shapes[value.name] = dims
    return shapes


def _size(dims: list[int | str]) -> tuple[int, Counter[str]]:
    """(product of the known sizes, count of each symbol)."""
    return math.prod(d for d in dims if isinstance(d, int)), Counter(d for d in dims if isinstance(d, str))


def _fits(source: list[int | str], target: list[int], allowzero: bool) -> bool:
    resolved: list[int | str] = [source[i] if t == 0 and not allowzero and i < len(source) else t
                                 for i, t in enumerate(target)]
    inferred_dim = [d for d in resolved if d == -1]
    known, symbols = _size(source)
    out_known, out_symbols = _size([d for d in resolved if d != -1])
    if not inferred_dim:
        return known == out_known and symbols == out_symbols
    if len(inferred_dim) > 1 or out_symbols - symbols:
        return True  # not decidable from symbols alone; ONNX Runtime judges it
    return out_known != 0 and known % out_known == 0


def impossible_reshapes(model: Any, constant: Callable[[str], Any]) -> Iterator[tuple[Any, list[int | str], list[int]]]:
    """(node, inferred input shape, constant target shape) of each top-level Reshape whose target cannot hold
    its input; ``constant(name)`` is the build-time value of a tensor, or None."""
    shapes = _inferred_shapes(model)
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            continue
        target, source = constant(node.input[1]), shapes.get(node.input[0])
        if target is None or source is None:
            continue
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        wanted = [int(v) for v in target.reshape(-1)]
        if not _fits(source, wanted, allowzero):
            yield node, source, wanted
