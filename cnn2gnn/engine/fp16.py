"""FP16 ONNX from an FP32 one, for TensorRT 11 (no FP16 builder flag: the ONNX carries the precision).

Uses onnxconverter-common's ``convert_float_to_float16`` with FP32 inputs/outputs kept, so callers
feed and read float32 exactly as before. Ops that are unsafe in FP16 stay FP32 (the converter's
default block list, which includes TopK), and by default so does the neighbour-distance path: every
node the TopK's scores depend on (node features, projection, squared distances). Near-tied distances
in FP16 swap which anchors are neighbours: on the digits student (k=10, M=512) a whole-model FP16
conversion kept 95.8% of the neighbour sets identical, the FP32 distance path 100% (top-1 agreement
with FP32 was 100% either way). Two fixes around the converter make "kept" really mean FP32 (see
:func:`drop_initializer_value_info` and :func:`bypass_fp16_round_trips`). :func:`fp16_agreement`
measures a conversion on ONNX Runtime's CPU.

Every conversion is held to the INT8 accuracy budget (:class:`AccuracyBudget`: drop, top-1 and
neighbour agreement against FP32 on the model's validation split, ONNX Runtime CPU) by
:func:`fp16_budget_check`. Out of budget the conversion is refused and nothing is written: the FP32
distance path is already the fallback that fixes neighbour agreement, and a model that misses the
budget with it has no smaller measured fix. Where the model's data cannot be loaded (a Jetson
without the training set) the check is recorded as not measured, with a warning.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.calibration.accuracy_budget import AccuracyBudget
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNX_HINT, ONNXRUNTIME_HINT, lazy_import

# The converter comes with cnn2gnn[train]; a Jetson that only builds engines can skip it.
ONNXCONVERTER_HINT = (
    "pip install onnxconverter-common (part of cnn2gnn[train]); or pass an FP16 ONNX made elsewhere "
    "(e.g. NVIDIA ModelOpt AutoCast)"
)


@dataclass
class Fp16Conversion:
    """What stayed FP32: nodes kept by name (the distance path) and op types the converter blocks."""

    kept_fp32_nodes: list[str] = field(default_factory=list)
    blocked_ops: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kept_fp32_nodes": self.kept_fp32_nodes, "blocked_ops": self.blocked_ops}


def name_unnamed_nodes(model: Any) -> None:
    """Give every nameless node a unique name: the converter's node block list matches by name."""
    taken = {node.name for node in model.graph.node if node.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def distance_path_nodes(model: Any) -> list[str]:
    """Names of the nodes TopK's scores depend on (the neighbour-distance path), in graph order."""
    producer = {out: node for node in model.graph.node for out in node.output}
    wanted: set[str] = set()
    stack = [node.input[0] for node in model.graph.node if node.op_type == "TopK" and node.input]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in wanted:
            continue
        wanted.add(node.name)
        stack.extend(name for name in node.input if name)
    return [node.name for node in model.graph.node if node.name in wanted]


def drop_initializer_value_info(model: Any) -> None:
    """Remove value_info entries that describe initializers (exporters add them; they are redundant).

    The converter casts every input of an FP32-kept node that has a value_info, initializers included,
    and then no longer recognises those initializers as feeding a kept node: their weights would be
    rounded to FP16 and cast back. Without the entries, kept nodes keep their FP32 weights.
    """
    initializers = {init.name for init in model.graph.initializer}
    kept = [vi for vi in model.graph.value_info if vi.name not in initializers]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)


def bypass_fp16_round_trips(model: Any) -> int:
    """Feed ``X`` instead of ``Cast(FLOAT)(Cast(FLOAT16)(X))`` to its consumers; returns how many.

    The converter gives an FP32 tensor shared by an FP16 and an FP32-kept consumer one FP16 copy and
    casts it back for the kept one, which rounds it: the kept path would not be FP32 after all.
    """
    from onnx import TensorProto

    def cast_to(node: Any) -> int | None:
        if node.op_type != "Cast":
            return None
        return next((a.i for a in node.attribute if a.name == "to"), None)

    producer = {out: node for node in model.graph.node for out in node.output}
    graph_outputs = {o.name for o in model.graph.output}
    replace: dict[str, str] = {}
    for node in model.graph.node:
        if cast_to(node) != TensorProto.FLOAT or node.output[0] in graph_outputs:
            continue
        inner = producer.get(node.input[0])
        if inner is not None and cast_to(inner) == TensorProto.FLOAT16:
            original = producer.get(inner.input[0])
            # Only when X itself was FP32: a Cast from FLOAT16 to FLOAT16 would not be a round trip.
            if original is None or cast_to(original) != TensorProto.FLOAT16:
                replace[node.output[0]] = inner.input[0]
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in replace:
                node.input[i] = replace[name]
    while True:  # removing a dead Cast can leave the Cast feeding it dead
        used = {name for node in model.graph.node for name in node.input} | graph_outputs
        dead = [node for node in model.graph.node if cast_to(node) is not None and not set(node.output) & used]
        if not dead:
            return len(replace)
        for node in dead:
            model.graph.node.remove(node)


def fp16_model_from_fp32(model: Any, keep_distance_path_fp32: bool = True) -> tuple[Any, Fp16Conversion]:
    """Convert a loaded ``onnx.ModelProto``; returns (new model, what stayed FP32)."""
    float16 = lazy_import("onnxconverter_common.float16", ONNXCONVERTER_HINT, "converting an FP32 ONNX to FP16")
    work = copy.deepcopy(model)
    name_unnamed_nodes(work)
    drop_initializer_value_info(work)
    kept = distance_path_nodes(work) if keep_distance_path_fp32 else []
    blocked_ops = list(float16.DEFAULT_OP_BLOCK_LIST)
    converted = float16.convert_float_to_float16(
        work, keep_io_types=True, op_block_list=blocked_ops, node_block_list=kept
    )
    bypass_fp16_round_trips(converted)
    return converted, Fp16Conversion(kept_fp32_nodes=kept, blocked_ops=sorted(blocked_ops))


def fp16_budget_check(
    fp32_model: Any, fp16_model: Any, metadata: Any, budget: AccuracyBudget, data: str | None = None
) -> dict[str, Any]:
    """FP16 vs FP32 on ONNX Runtime's CPU over the validation split of ``data`` (default: the model's
    training data): accuracies, drop, top-1 and neighbour agreement, and the budget's violations.

    ``{"measured": False, "reason": ...}`` when no such images can be loaded."""
    from cnn2gnn.calibration.calibrate_onnx import (
        EVALUATION_SPLIT,
        CalibrationWarnings,
        evaluation_tensors,
        training_split_seed,
    )
    from cnn2gnn.calibration.calibration_data import check_source_matches_model, image_source
    from cnn2gnn.calibration.neighbour_outputs import run_model
    from cnn2gnn.calibration.precision_comparison import compare_to_fp32

    limits = budget.to_dict()
    spec = data or (metadata.run_config or {}).get("data")
    if not spec:
        return {"measured": False, "reason": "the model's metadata names no training dataset", **limits}
    try:  # a build machine may lack the data or ONNX Runtime: then the check is recorded as not measured
        source = image_source(spec, training_split_seed(metadata))
        check_source_matches_model(source, metadata, spec)
        x, y, _ = evaluation_tensors(source, metadata, CalibrationWarnings())
        fp32_out, fp16_out = run_model(fp32_model, metadata, x), run_model(fp16_model, metadata, x)
    except Cnn2GnnError as exc:
        return {"measured": False, "reason": str(exc), **limits}
    comparison = compare_to_fp32(fp32_out, fp16_out, y, "fp16")
    violations = budget.violations(comparison)
    return {"measured": True, "data": spec, "split": EVALUATION_SPLIT, "provider": "CPUExecutionProvider", **limits,
            **comparison, "violations": violations, "within_budget": not violations}


def fp16_onnx_from_fp32(
    src: str | Path,
    dst: str | Path,
    keep_distance_path_fp32: bool = True,
    budget: AccuracyBudget | None = None,
    data: str | None = None,
    allow_over_budget: bool = False,
) -> Fp16Conversion:
    """Write an FP16 (FP32 I/O) copy of ``src`` to ``dst`` with its metadata (precision "fp16", what
    stayed FP32, the accuracy budget check) embedded and in the ``<dst>.json`` sidecar, both atomically;
    it passes the ONNX checker. Out of ``budget`` (default :class:`AccuracyBudget`) it raises
    :class:`Cnn2GnnError` and writes nothing, unless ``allow_over_budget``."""
    import warnings

    from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model, write_onnx_with_metadata

    src_path = Path(src)
    model = load_onnx_model(src_path)
    metadata = metadata_from_onnx_model(model, str(src_path))
    converted, conversion = fp16_model_from_fp32(model, keep_distance_path_fp32)
    lazy_import("onnx", ONNX_HINT, "checking the FP16 ONNX").checker.check_model(converted)
    check = fp16_budget_check(model, converted, metadata, budget or AccuracyBudget(), data)
    if not check["measured"]:
        warnings.warn(f"{src_path}: FP16 accuracy against FP32 not measured ({check['reason']})", stacklevel=2)
    elif check["violations"] and not allow_over_budget:
        raise Cnn2GnnError(
            f"{src_path}: its FP16 conversion misses the accuracy budget on {check['num_images']} {check['data']} "
            f"[{check['split']}] images ({'; '.join(check['violations'])}); nothing was written to {dst}. Build "
            "FP32 or INT8 (`cnn2gnn calibrate`) instead"
            + ("" if keep_distance_path_fp32 else ", or keep the distance path FP32")
        )
    metadata.precision = "fp16"
    metadata.extra = {
        **metadata.extra,
        "fp16_conversion": {
            "source_onnx": src_path.name,
            "tool": "onnxconverter-common convert_float_to_float16(keep_io_types=True)",
            **conversion.to_dict(),
            "accuracy_budget": check,
            "over_budget": bool(check["measured"] and check["violations"]),
        },
    }
    write_onnx_with_metadata(converted, dst, metadata)
    return conversion


def fp16_agreement(
    fp32_onnx: str | Path, fp16_onnx: str | Path, inputs: np.ndarray, batch_size: int = 256
) -> dict[str, Any]:
    """Run both models on ONNX Runtime's CPU provider: top-1 agreement and logit differences."""
    ort = lazy_import("onnxruntime", ONNXRUNTIME_HINT, "comparing FP16 with FP32")

    def run(path: str | Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        outs = [session.run(None, {name: inputs[i : i + batch_size]})[0] for i in range(0, len(inputs), batch_size)]
        return np.concatenate(outs).astype(np.float32)

    ref, half = run(fp32_onnx), run(fp16_onnx)
    diff = np.abs(ref - half)
    return {
        "samples": int(len(inputs)),
        "top1_agreement": float(np.mean(ref.argmax(1) == half.argmax(1))),
        "max_abs_logit_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
    }
