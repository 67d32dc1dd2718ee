"""Run an FP32 or Q/DQ model on ONNX Runtime's CPU provider and read its logits AND its neighbours.

A student's neighbour indices are an internal tensor (TopK's second output). To compare them between
FP32 and INT8, each model is run from an in-memory copy that also lists that tensor as a graph output;
the saved files are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn2gnn.calibration.graph_path import ensure_node_names, find_graph_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNXRUNTIME_HINT, lazy_import
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.progress import progress_bar


@dataclass
class ModelOutputs:
    logits: np.ndarray  # (N, classes) float32
    neighbours: np.ndarray | None  # (N, k) anchor indices, each row sorted; None for a model without TopK


def _session(model_bytes: bytes) -> Any:
    ort = lazy_import("onnxruntime", ONNXRUNTIME_HINT, "comparing the models' neighbours")
    try:
        return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's own Fail / InvalidGraph types
        raise Cnn2GnnError(f"ONNX Runtime cannot run the model on the CPU ({exc})") from exc


def with_neighbour_output(model: Any) -> tuple[Any, str | None]:
    """A copy of ``model`` that also outputs the graph path's TopK indices; returns (copy, that output or None)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    ensure_node_names(copy)
    path = find_graph_path(copy)
    if not path.topk_nodes:
        return copy, None
    topk = next(n for n in copy.graph.node if n.name == path.topk_nodes[0])
    indices = topk.output[1]
    if indices not in {o.name for o in copy.graph.output}:
        copy.graph.output.append(onnx.helper.make_tensor_value_info(indices, onnx.TensorProto.INT64, None))
    return copy, indices


def run_model(
    model: Any,
    metadata: ModelMetadata,
    tensors: np.ndarray,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "evaluate",
) -> ModelOutputs:
    """Logits and (for a student) the k neighbour indices of each of ``tensors`` (float32 N, C, H, W)."""

    copy, indices_name = with_neighbour_output(model)
    session = _session(copy.SerializeToString())
    names = [metadata.output_name] + ([indices_name] if indices_name else [])
    logits_parts, index_parts = [], []
    with progress_bar(total=len(tensors), desc=desc, unit="img", enabled=progress, leave=False) as bar:
        for start in range(0, len(tensors), batch_size):
            out = session.run(names, {metadata.input_name: tensors[start : start + batch_size]})
            logits_parts.append(np.asarray(out[0], dtype=np.float32))
            if indices_name:
                index_parts.append(np.asarray(out[1]))
            bar.update(min(batch_size, len(tensors) - start))
    logits = np.concatenate(logits_parts) if logits_parts else np.zeros((0, metadata.num_classes), np.float32)
    if not indices_name:
        return ModelOutputs(logits, None)
    index = np.concatenate(index_parts)
    # TopK returns k+1 candidates: the (k+1)-th distance is the threshold of the weights, not a neighbour.
    k = int((metadata.graph or {}).get("k") or index.shape[1])
    return ModelOutputs(logits, np.sort(index[:, :k], axis=1))


def neighbour_agreement(a: ModelOutputs, b: ModelOutputs) -> float | None:
    """Fraction of samples whose k neighbour indices are the same set in both; None without neighbours."""
    if a.neighbours is None or b.neighbours is None:
        return None
    if a.neighbours.shape != b.neighbours.shape:
        raise Cnn2GnnError(f"neighbour index shapes differ: {a.neighbours.shape} vs {b.neighbours.shape}")
    if len(a.neighbours) == 0:
        return None
    return float((a.neighbours == b.neighbours).all(axis=1).mean())
