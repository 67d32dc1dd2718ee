"""A realistic engine key and sidecar (Orin, TensorRT 10.3) for tests that need one, and the sidecar a refittable
build of a real model records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnn2gnn.contracts.engine_sidecar import EngineSidecar
from cnn2gnn.contracts.gpu_info import GpuInfo
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.engine.build_plan import plan_build
from cnn2gnn.engine.engine_key import engine_key, engine_key_for_plan
from cnn2gnn.engine.onnx_facts import read_onnx_facts
from cnn2gnn.engine.profiles import batch_profile
from cnn2gnn.engine.refit_weights import refit_record, refit_weights_from_onnx
from tests.engine._onnx_models import tiny_metadata

ONNX_SHA = "ab12cd34ef56" + "0" * 52
TRT_10_3 = parse_trt_version("10.3.0")
ORIN_GPU = GpuInfo("Orin", (8, 7), True)


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


def refittable_sidecar(onnx_path: Path, engine_sha256: str = "0" * 64) -> EngineSidecar:
    """What ``cnn2gnn build ONNX --refittable`` (FP32, TensorRT 10.3 on an Orin) records, without the build."""
    facts = read_onnx_facts(onnx_path)
    plan = plan_build(TRT_10_3, "fp32", facts.is_qdq, facts.is_fp16, False, refittable=True, gpu=ORIN_GPU)
    return sample_sidecar(
        engine_sha256=engine_sha256, key=refittable_build_key(onnx_path), precision="fp32", quantization=None,
        source_onnx=onnx_path.name, source_onnx_sha256=facts.sha256, input_shape=list(facts.input_shape),
        model_metadata=facts.metadata.to_dict(), refittable=plan.refittable,
        refit=refit_record(refit_weights_from_onnx(onnx_path)), build_options={"builder_flags": list(plan.builder_flags)},
    )


def refittable_build_key(onnx_path: Path) -> dict[str, Any]:
    """The engine key of that build."""
    facts = read_onnx_facts(onnx_path)
    plan = plan_build(TRT_10_3, "fp32", facts.is_qdq, facts.is_fp16, False, refittable=True, gpu=ORIN_GPU)
    return engine_key_for_plan(facts, plan, TRT_10_3, ORIN_GPU, batch_profile(facts.input_shape))
