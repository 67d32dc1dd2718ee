"""A stand-in for the TensorRT build in the engine cache's tests, and the device it pretends to build for.

Only TensorRT is replaced: the engine cache under test (key, lookup, rebuild decision, lock, publish)
is the real one. The fake writes what ``engine_from_onnx`` writes: an engine file and a sidecar that
records the sha256 and the key of the build, computed with the builder's own key function.
"""

from __future__ import annotations

import time
from pathlib import Path

from cnn2gnn.contracts.atomic_io import sha256_bytes
from cnn2gnn.contracts.gpu_info import GpuInfo
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.engine.build_plan import plan_build
from cnn2gnn.engine.engine_cache import BuildTarget
from cnn2gnn.engine.engine_from_onnx import write_engine_files
from cnn2gnn.engine.engine_key import engine_key_for_plan
from cnn2gnn.engine.onnx_facts import read_onnx_facts
from cnn2gnn.engine.profiles import batch_profile
from tests.engine._engines import sample_sidecar

ORIN = BuildTarget(parse_trt_version("10.3.0"), GpuInfo("Orin", (8, 7), True))


def orin(onnx_path: Path) -> BuildTarget:
    return ORIN


def key_of_build(onnx: Path, precision: str, target: BuildTarget, dla_core: int | None = None) -> dict:
    facts = read_onnx_facts(onnx)
    plan = plan_build(target.tensorrt_version, precision, facts.is_qdq, facts.is_fp16, False, dla_core=dla_core,
                      gpu=target.gpu)
    return engine_key_for_plan(facts, plan, target.tensorrt_version, target.gpu, batch_profile(facts.input_shape))


class FakeBuilder:
    """Counts its builds (in ``log_dir`` when given, so builds in other processes count too)."""

    def __init__(self, target: BuildTarget = ORIN, seconds: float = 0.0, log_dir: Path | None = None) -> None:
        self.target, self.seconds, self.log_dir = target, seconds, log_dir
        self.calls: list[tuple[Path, Path, str, int | None]] = []

    def __call__(self, onnx: Path, engine_path: Path, precision: str, dla_core: int | None) -> None:
        self.calls.append((onnx, engine_path, precision, dla_core))
        if self.log_dir is not None:
            (self.log_dir / f"build-{time.monotonic_ns()}").touch()
        time.sleep(self.seconds)
        data = f"engine of {onnx.name} at {precision}".encode()
        key = key_of_build(onnx, precision, self.target, dla_core)
        sidecar = sample_sidecar(engine_sha256=sha256_bytes(data), key=key, precision=precision, source_onnx=onnx.name,
                                 source_onnx_sha256=key["source_onnx_sha256"])
        write_engine_files(engine_path, data, sidecar)


def build_in_another_process(onnx: str, cache_dir: str, log_dir: str) -> str:
    """What a second `cnn2gnn run` does on first use (multiprocessing target: importable, picklable)."""
    from cnn2gnn.engine.engine_cache import engine_for_onnx

    built = engine_for_onnx(onnx, cache_dir=cache_dir, target=orin, build=FakeBuilder(seconds=1.0,
                            log_dir=Path(log_dir)), notify=lambda message: None)
    return str(built.path)
