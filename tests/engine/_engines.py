"""A realistic engine key and sidecar (Orin, TensorRT 10.3) for tests that need one."""

from __future__ import annotations

from typing import Any

from cnn2gnn.contracts.engine_sidecar import EngineSidecar
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.engine.engine_key import engine_key
from tests.engine._onnx_models import tiny_metadata

ONNX_SHA = "ab12cd34ef56" + "0" * 52


def sample_key(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        model="student",
        source_onnx_sha256=ONNX_SHA,
        precision="int8",
        quantization="qdq",
        tensorrt_version=parse_trt_version("10.3.0"),
        gpu_name="Orin",
        compute_capability=(8, 7),
        min_batch=1,
        opt_batch=1,
        max_batch=64,
    )
    args.update(changes)
    return engine_key(**args)


def sample_sidecar(engine_sha256: str = "0" * 64, key: dict[str, Any] | None = None, **changes: Any) -> EngineSidecar:
    fields: dict[str, Any] = dict(
        tensorrt_version="10.3.0",
        gpu_name="Orin",
        compute_capability="8.7",
        precision="int8",
        batch_profile={"min": 1, "opt": 1, "max": 64},
        source_onnx="student.qdq.onnx",
        source_onnx_sha256=ONNX_SHA,
        engine_sha256=engine_sha256,
        input_name="images",
        input_shape=[-1, 1, 8, 8],
        output_name="logits",
        quantization="qdq",
        model_metadata=tiny_metadata("int8-qdq").to_dict(),
        key=sample_key() if key is None else key,
    )
    fields.update(changes)
    return EngineSidecar(**fields)
