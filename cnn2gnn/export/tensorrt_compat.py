"""``cnn2gnn check``: will TensorRT 10 accept this ONNX model? A static report, no TensorRT needed.

Each problem is a finding with a level (error: the parser or the deployment design rejects it;
warning: works on some versions or needs care; info: worth knowing), a stable ``code``, the op and
node it concerns, and a message that says how to fix it. The verdict is ``incompatible`` (any error,
exit code 2), ``compatible with warnings`` (exit 0) or ``compatible`` (exit 0).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import TENSORRT_TOPK_LIMIT
from cnn2gnn.contracts.lazy_import import ONNX_HINT, lazy_import
from cnn2gnn.contracts.metadata import METADATA_KEY
from cnn2gnn.contracts.setting_ranges import INT32_MAX, INT32_MIN
from cnn2gnn.export.onnx_metadata import load_onnx_model
from cnn2gnn.export.reshape_sizes import impossible_reshapes
from cnn2gnn.export.tensorrt_ops import (
    CONSTANT_INPUTS,
    QDQ_OPS,
    REJECTED_OPS,
    RESIZE_UNSUPPORTED_COORDINATE_MODES,
    SCATTER_OPS,
    SUPPORTED_OPS,
    TENSORRT_OPSET_RANGE,
)

VERDICT_EXIT_CODES = {"compatible": 0, "compatible with warnings": 0, "incompatible": 2}
DEFAULT_DOMAINS = ("", "ai.onnx")
UNSUPPORTED_QDQ_DTYPES = (np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.uint16))


@dataclass
class Finding:
    level: str  # "error" | "warning" | "info"
    code: str
    message: str
    op: str | None = None
    node: str | None = None


def _walk_graphs(graph: Any) -> Iterator[Any]:
    """The graph and every If/Loop/Scan body inside it (TensorRT parses those too)."""
    from onnx import AttributeProto

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from _walk_graphs(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _walk_graphs(sub)


def _walk_nodes(graph: Any) -> Iterator[Any]:
    for sub in _walk_graphs(graph):
        yield from sub.node


class _Constants:
    """Values known at build time: initializers not overridable as inputs, Constant outputs, and Identity of those."""

    def __init__(self, model: Any) -> None:
        from onnx import helper, numpy_helper

        self.values: dict[str, Any] = {}
        for graph in _walk_graphs(model.graph):
            overridable = {i.name for i in graph.input}
            for init in graph.initializer:
                if init.name not in overridable:
                    self.values[init.name] = numpy_helper.to_array(init)
        for node in _walk_nodes(model.graph):
            if node.op_type == "Constant" and node.domain in DEFAULT_DOMAINS and node.attribute:
                attr = node.attribute[0]
                if attr.name == "value":
                    self.values[node.output[0]] = numpy_helper.to_array(attr.t)
                elif attr.name != "sparse_value":
                    self.values[node.output[0]] = np.asarray(helper.get_attribute_value(attr))
        changed = True
        while changed:  # Identity chains of constants are constants
            changed = False
            for node in _walk_nodes(model.graph):
                if node.op_type == "Identity" and node.input[0] in self.values and node.output[0] not in self.values:
                    self.values[node.output[0]] = self.values[node.input[0]]
                    changed = True

    def get(self, name: str) -> Any:
        return self.values.get(name)


def _node_label(node: Any) -> str:
    return node.name or (node.output[0] if node.output else node.op_type)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _default_opset(model: Any) -> int | None:
    for opset in model.opset_import:
        if opset.domain in DEFAULT_DOMAINS:
            return int(opset.version)
    return None


def _value_info(value: Any) -> dict[str, Any]:
    from onnx import helper

    tensor_type = value.type.tensor_type
    dims: list[Any] = []
    dynamic: list[int] = []
    has_shape = tensor_type.HasField("shape")
    for i, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
            dynamic.append(i)
    dtype = str(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)) if tensor_type.elem_type else "unknown"
    return {"name": value.name, "dtype": dtype, "shape": dims if has_shape else None, "dynamic_dims": dynamic}


def _topk_k(node: Any, constants: _Constants) -> int | None:
    """K of a TopK node when known at build time (an input from opset 10, an attribute before)."""
    value = constants.get(node.input[1]) if len(node.input) > 1 else _attr(node, "k")
    if value is None:
        return None
    return int(value) if isinstance(value, int) else int(value.reshape(-1)[0])


def _op_findings(node: Any, constants: _Constants) -> list[Finding]:
    op, label = node.op_type, _node_label(node)
    found: list[Finding] = []
    if node.domain not in DEFAULT_DOMAINS:
        return [Finding("error", "custom-domain-op",
                        f"{op} from domain '{node.domain}' is not a standard ONNX op; TensorRT parses it only with a "
                        "plugin registered under that name. Export with standard ops", op, label)]
    if op in REJECTED_OPS:
        return [Finding("error", "unsupported-op", f"{op} is not deployable: {REJECTED_OPS[op]}", op, label)]
    if op not in SUPPORTED_OPS:
        return [Finding("error", "unsupported-op",
                        f"{op} is not in TensorRT 10's ONNX operator list; replace it or implement a plugin",
                        op, label)]
    for index, what in CONSTANT_INPUTS.get(op, {}).items():
        if index < len(node.input) and node.input[index] and constants.get(node.input[index]) is None:
            code = ("topk-k-not-constant" if op == "TopK" else "axes-not-constant" if what in ("axes", "axis")
                    else "input-not-constant")
            found.append(Finding("error", code,
                                 f"{op} '{label}': input {what} ('{node.input[index]}') is computed at run time; "
                                 f"TensorRT needs {what} as a constant initializer", op, label))
    if op == "TopK":
        k = _topk_k(node, constants)
        if k is not None and k > TENSORRT_TOPK_LIMIT:
            found.append(Finding("error", "topk-k-too-large",
                                 f"TopK '{label}': K={k} exceeds TensorRT's maximum of {TENSORRT_TOPK_LIMIT} "
                                 "(sort/argsort exported as TopK over a whole axis hit this); lower K or split the search",
                                 op,
                                 label))
    if op in SCATTER_OPS:
        reduction = _attr(node, "reduction", "none")
        if reduction != "none":
            found.append(Finding("error", "scatter-reduction",
                                 f"{op} '{label}' uses reduction='{reduction}'; TensorRT's scatter layer only "
                                 "overwrites. Use Gather + ReduceSum (a fixed number of neighbours per row) instead",
                                 op, label))
    if op == "Resize":
        coordinate_mode = _attr(node, "coordinate_transformation_mode", "half_pixel")
        if coordinate_mode in RESIZE_UNSUPPORTED_COORDINATE_MODES:
            found.append(Finding("error", "resize-mode",
                                 f"Resize '{label}': coordinate_transformation_mode='{coordinate_mode}' is not "
                                 "supported by TensorRT", op, label))
        if _attr(node, "mode", "nearest") == "cubic":
            found.append(Finding("warning", "resize-mode",
                                 f"Resize '{label}': mode='cubic' needs TensorRT 8.6 or newer", op, label))
        if _attr(node, "antialias", 0):
            found.append(Finding("warning", "resize-mode",
                                 f"Resize '{label}': antialias=1 (opset 18) may not be honoured; verify on your "
                                 "TensorRT version or resize without antialiasing", op, label))
    if op in QDQ_OPS and len(node.input) > 2 and node.input[2]:
        zero_point = constants.get(node.input[2])
        if zero_point is not None and zero_point.dtype in UNSUPPORTED_QDQ_DTYPES:
            found.append(Finding("error", "qdq-type",
                                 f"{op} '{label}' quantises to {zero_point.dtype}; TensorRT's Q/DQ layers are int8 "
                                 "(or fp8/int4), never uint8/16-bit (ONNX Runtime: quantize_static(..., "
                                 "activation_type=QuantType.QInt8, weight_type=QuantType.QInt8))", op, label))
        elif zero_point is not None and np.any(zero_point != 0):
            found.append(Finding("error", "qdq-zero-point",
                                 f"{op} '{label}' has a non-zero zero point; TensorRT supports symmetric quantisation "
                                 "only (ONNX Runtime: extra_options={'ActivationSymmetric': True, "
                                 "'WeightSymmetric': True})", op, label))
    if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        found.append(Finding("error", "maxpool-indices",
                             f"MaxPool '{label}': the Indices output is not supported by TensorRT", op, label))
    return found


def _int64_findings(model: Any, constants: _Constants, inputs: list[dict[str, Any]],
                    outputs: list[dict[str, Any]]) -> tuple[list[Finding], dict[str, Any]]:
    from onnx import TensorProto

    found: list[Finding] = []
    for role, values in (("input", inputs), ("output", outputs)):
        for value in values:
            if value["dtype"] in ("int64", "float64"):
                narrower = "int32" if value["dtype"] == "int64" else "float32"
                found.append(Finding("warning", f"{value['dtype']}-{role}",
                                     f"model {role} '{value['name']}' is {value['dtype']}: TensorRT 8.x does not "
                                     f"accept it at the boundary and casts it down ({narrower}); "
                                     "10.x accepts int64 I/O. Prefer float32 / int32 at the model boundary"))
    # Slice starts/ends of INT64_MAX mean "to the end"; TensorRT clamps them, as intended.
    clamped_sentinels = {node.input[i] for node in _walk_nodes(model.graph) if node.op_type == "Slice"
                         for i in (1, 2) if i < len(node.input)}
    int64_names, out_of_range = [], []
    for graph in _walk_graphs(model.graph):
        for init in graph.initializer:
            if init.data_type != TensorProto.INT64:
                continue
            int64_names.append(init.name)
            value = constants.get(init.name)
            if value is not None and value.size and init.name not in clamped_sentinels and (
                    value.min() < INT32_MIN or value.max() > INT32_MAX):
                out_of_range.append(init.name)
    if int64_names:
        found.append(Finding("info", "int64-initializers",
                             f"{len(int64_names)} int64 initializer(s) (shape/index constants); TensorRT 10 handles "
                             "int64, older versions cast them to int32"))
    for name in out_of_range:
        found.append(Finding("warning", "int64-out-of-int32-range",
                             f"int64 initializer '{name}' holds values outside the int32 range; TensorRT versions "
                             "that cast int64 to int32 will clamp them"))
    return found, {"initializers": len(int64_names), "out_of_int32_range": out_of_range,
                   "inputs": [v["name"] for v in inputs if v["dtype"] == "int64"],
                   "outputs": [v["name"] for v in outputs if v["dtype"] == "int64"]}


def _reshape_findings(model: Any, constants: _Constants) -> list[Finding]:
    try:
        impossible = list(impossible_reshapes(model, constants.get))
    except Exception:  # onnx's InferenceError on a graph onnx.checker already reported as invalid
        return []
    return [Finding("error", "reshape-size",
                    f"Reshape to {target} cannot hold its input of shape {source} (ONNX Runtime and TensorRT fail "
                    "here): the graph was built for another input size. Was the input shape edited? Re-export the "
                    "model with `cnn2gnn export`", op="Reshape", node=_node_label(node))
            for node, source, target in impossible]


def _shape_findings(inputs: list[dict[str, Any]]) -> list[Finding]:
    found: list[Finding] = []
    for value in inputs:
        if value["shape"] is None:
            found.append(Finding("warning", "input-shape-unknown",
                                 f"input '{value['name']}' has no declared shape; TensorRT needs its rank, and an "
                                 "optimization profile for every dimension"))
            continue
        for dim in value["dynamic_dims"]:
            if dim == 0:
                found.append(Finding("info", "dynamic-batch",
                                     f"input '{value['name']}' has a dynamic batch dimension ('{value['shape'][0]}'); "
                                     "the engine's optimization profile sets its min/opt/max"))
            else:
                found.append(Finding("warning", "dynamic-dim",
                                     f"input '{value['name']}' dimension {dim} ('{value['shape'][dim]}') is dynamic; "
                                     "the optimization profile must cover its range, and fixed sizes build faster "
                                     "engines"))
    return found


def check_tensorrt_compatibility(model: Any, source: str | None = None) -> dict[str, Any]:
    """The static TensorRT-compatibility report of an ``onnx.ModelProto`` or the ONNX file at a path."""
    onnx = lazy_import("onnx", ONNX_HINT, "checking an ONNX model")

    if isinstance(model, (str, os.PathLike)):
        source = source or str(model)
        model = load_onnx_model(Path(model), load_external_data=True)
    source = source or model.graph.name or "model"
    findings: list[Finding] = []
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        findings.append(Finding("error", "onnx-invalid", f"onnx.checker rejects the model: {str(exc).strip()[:300]}"))
    opset = _default_opset(model)
    low, high = TENSORRT_OPSET_RANGE
    if opset is None:
        findings.append(Finding("error", "opset", "the model imports no default-domain opset"))
    elif opset < low:
        findings.append(Finding("error", "opset", f"opset {opset} is older than TensorRT's minimum {low}; re-export "
                                                  "with --opset 17"))
    elif opset > high:
        findings.append(Finding("warning", "opset", f"opset {opset} is newer than TensorRT 10.0 parses ({low}-{high}); "
                                                    "later 10.x releases accept more. --opset 17 is safe everywhere"))
    constants = _Constants(model)
    initializer_names = {i.name for i in model.graph.initializer}
    inputs = [_value_info(v) for v in model.graph.input if v.name not in initializer_names]
    outputs = [_value_info(v) for v in model.graph.output]
    ops: Counter[str] = Counter()
    topk = []
    for node in _walk_nodes(model.graph):
        ops[node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"] += 1
        findings += _op_findings(node, constants)
        if node.op_type == "TopK" and node.domain in DEFAULT_DOMAINS:
            k = _topk_k(node, constants)
            topk.append({"node": _node_label(node), "k": k, "constant": k is not None})
    findings += _reshape_findings(model, constants)
    int64_found, int64_summary = _int64_findings(model, constants, inputs, outputs)
    findings += int64_found + _shape_findings(inputs)
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    verdict = "incompatible" if errors else "compatible with warnings" if warnings else "compatible"
    cnn2gnn_meta = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
    return {
        "model": source,
        "opset": opset,
        "ir_version": int(model.ir_version),
        "ops": dict(sorted(ops.items())),
        "num_nodes": sum(ops.values()),
        "inputs": inputs,
        "outputs": outputs,
        "topk": topk,
        "int64": int64_summary,
        "cnn2gnn_metadata": cnn2gnn_meta is not None,
        "findings": [asdict(f) for f in findings],
        "errors": errors,
        "warnings": warnings,
        "verdict": verdict,
        "exit_code": VERDICT_EXIT_CODES[verdict],
    }


def _shape_text(value: dict[str, Any]) -> str:
    shape = "?" if value["shape"] is None else "[" + ", ".join(str(d) for d in value["shape"]) + "]"
    return f"{value['name']} {value['dtype']} {shape}"


def format_compat_report(report: dict[str, Any], verbose: bool = False) -> str:
    """The report for a person: summary lines, then errors and warnings (info too with ``verbose``)."""
    lines = [
        f"{report['model']}: opset {report['opset']}, IR {report['ir_version']}, {report['num_nodes']} nodes",
        "inputs:  " + "; ".join(_shape_text(v) + (f" (dynamic dims {v['dynamic_dims']})" if v["dynamic_dims"] else "")
                                for v in report["inputs"]),
        "outputs: " + "; ".join(_shape_text(v) for v in report["outputs"]),
        "ops:     " + ", ".join(f"{op} x{n}" for op, n in report["ops"].items()),
    ]
    if report["topk"]:
        lines.append("TopK:    " + ", ".join(f"{t['node']} K={t['k'] if t['constant'] else 'not constant'}"
                                             for t in report["topk"]) + f" (TensorRT max {TENSORRT_TOPK_LIMIT})")
    int64 = report["int64"]
    lines.append(f"int64:   {int64['initializers']} initializer(s), {len(int64['out_of_int32_range'])} outside int32; "
                 f"int64 inputs {int64['inputs'] or 'none'}, outputs {int64['outputs'] or 'none'}")
    shown = [f for f in report["findings"] if verbose or f["level"] != "info"]
    for finding in shown:
        lines.append(f"  {finding['level'].upper():7s} [{finding['code']}] {finding['message']}")
    lines.append(f"verdict: {report['verdict']} ({report['errors']} error(s), {report['warnings']} warning(s))")
    return "\n".join(lines)


def require_tensorrt_compatible(model: Any, source: str) -> dict[str, Any]:
    """The report, or a :class:`Cnn2GnnError` listing every error when TensorRT would reject the model."""
    report = check_tensorrt_compatibility(model, source)
    if report["verdict"] == "incompatible":
        problems = "; ".join(f"[{f['code']}] {f['message']}" for f in report["findings"] if f["level"] == "error")
        raise Cnn2GnnError(f"{source}: the exported graph is not TensorRT-compatible: {problems}")
    return report
