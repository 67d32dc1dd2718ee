"""What the builder must know about an ONNX model before TensorRT sees it.

Input name and shape, whether it is a Q/DQ (explicitly quantized) or FP16 model, and its cnn2gnn
:class:`~cnn2gnn.contracts.metadata.ModelMetadata`. With the ``onnx`` package the graph itself is inspected;
on a Jetson without it the metadata (sidecar ``<model>.onnx.json``, or ONNX Runtime's view of the
embedded copy) stands in, since the exporter and ``cnn2gnn calibrate`` record the precision there.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import METADATA_KEY, ModelMetadata
from cnn2gnn.export.onnx_metadata import require_onnx_file

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


@dataclass(frozen=True)
class OnnxFacts:
    path: Path
    sha256: str
    metadata: ModelMetadata
    input_name: str
    input_shape: tuple[int, ...]  # -1 for a dynamic axis
    output_name: str
    is_qdq: bool
    is_fp16: bool
    inspected_graph: bool  # False: read from the metadata alone (no onnx package here)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "input_name": self.input_name,
            "input_shape": list(self.input_shape),
            "output_name": self.output_name,
            "is_qdq": self.is_qdq,
            "is_fp16": self.is_fp16,
            "inspected_graph": self.inspected_graph,
        }


def _dims(value_info: Any) -> tuple[int, ...]:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in dims)


def graph_facts(model: Any, source: str) -> dict[str, Any]:
    """Input/output names, input shape, Q/DQ and FP16 use of a loaded ``onnx.ModelProto``."""
    from onnx import TensorProto

    graph = model.graph
    initializer_names = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializer_names]
    if len(inputs) != 1 or len(graph.output) < 1:
        raise Cnn2GnnError(
            f"{source}: cnn2gnn engines take one image input and give logits; this graph has inputs "
            f"{[i.name for i in inputs]} and outputs {[o.name for o in graph.output]}"
        )
    fp16 = TensorProto.FLOAT16
    is_fp16 = any(init.data_type == fp16 for init in graph.initializer) or any(
        node.op_type == "Cast" and any(a.name == "to" and a.i == fp16 for a in node.attribute) for node in graph.node
    )
    return {
        "input_name": inputs[0].name,
        "input_shape": _dims(inputs[0]),
        "output_name": graph.output[0].name,
        "is_qdq": any(node.op_type in QDQ_OPS for node in graph.node),
        "is_fp16": is_fp16,
    }


def _metadata_from_onnx(model: Any, path: Path) -> ModelMetadata | None:
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return ModelMetadata.from_json(prop.value, source=str(path))
    return None


def read_onnx_facts(path: str | Path) -> OnnxFacts:
    onnx_path = Path(path)
    require_onnx_file(onnx_path)
    digest = sha256_file(onnx_path)
    if importlib.util.find_spec("onnx") is None:
        from cnn2gnn.runtime.model_info import read_model_metadata

        metadata = read_model_metadata(onnx_path)
        return OnnxFacts(
            path=onnx_path,
            sha256=digest,
            metadata=metadata,
            input_name=metadata.input_name,
            input_shape=tuple(metadata.input_shape),
            output_name=metadata.output_name,
            is_qdq=metadata.precision == "int8-qdq",
            is_fp16=metadata.precision == "fp16",
            inspected_graph=False,
        )
    from cnn2gnn.export.onnx_metadata import load_onnx_model

    model = load_onnx_model(onnx_path)
    facts = graph_facts(model, str(onnx_path))
    metadata = _metadata_from_onnx(model, onnx_path)
    if metadata is None:
        from cnn2gnn.runtime.model_info import metadata_from_sidecar

        metadata = metadata_from_sidecar(onnx_path)
    if metadata is None:
        raise Cnn2GnnError(
            f"{onnx_path}: no cnn2gnn metadata (no embedded '{METADATA_KEY}' entry, no {onnx_path.name}.json sidecar); "
            "the runtime needs its class names and preprocessing: export the model with `cnn2gnn export`"
        )
    if (metadata.precision == "int8-qdq") != facts["is_qdq"]:
        raise Cnn2GnnError(
            f"{onnx_path}: its metadata says precision {metadata.precision!r} but the graph "
            f"{'has' if facts['is_qdq'] else 'has no'} QuantizeLinear/DequantizeLinear nodes; the file was edited "
            "after export: re-export it (`cnn2gnn export`) or re-quantize it (`cnn2gnn calibrate`)"
        )
    if facts["input_name"] != metadata.input_name or facts["output_name"] != metadata.output_name:
        raise Cnn2GnnError(
            f"{onnx_path}: graph input/output are {facts['input_name']!r}/{facts['output_name']!r} but its metadata "
            f"names {metadata.input_name!r}/{metadata.output_name!r}; re-export it with `cnn2gnn export`"
        )
    return OnnxFacts(path=onnx_path, sha256=digest, metadata=metadata, inspected_graph=True, **facts)
