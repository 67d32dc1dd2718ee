"""The JSON record written next to every engine (``model.engine`` -> ``model.engine.json``).

It says what the engine was built from and for, so a runtime can explain a version or GPU mismatch
before TensorRT fails with a bare "deserialize failed". The engine file itself stays a plain
serialized TensorRT plan that trtexec and Triton load as-is. Torch-free and TensorRT-free: the runtime
imports :func:`compatibility_problems` on machines where the engine will not load.

Compatibility rules (TensorRT "Engine Compatibility" docs, 10.x and 11.x):
- A plain engine runs only on the TensorRT version that built it and on GPUs of the same compute
  capability (another GPU model of the same capability loads, with a TensorRT warning).
- A version-compatible engine (8.6+) also runs on later runtimes of the same major version, and
  across majors only 8 -> 9/10 and 10 -> 11; never on an older runtime.
- A hardware-compatible engine (AMPERE_PLUS) runs on any GPU of compute capability 8.0 or newer;
  SAME_COMPUTE_CAPABILITY ones on other GPUs of the same capability.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnn2gnn import __version__
from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import compute_capability_text, parse_compute_capability
from cnn2gnn.contracts.metadata import read_sidecar, sidecar_path
from cnn2gnn.contracts.trt_version import TrtVersion, parse_trt_version

ENGINE_SIDECAR_FORMAT = "cnn2gnn-engine/1"
# Version-compatible engines of one major also load on these later majors.
_CROSS_MAJOR_VERSION_COMPATIBILITY = {8: (9, 10), 10: (11,)}
_REBUILD_HINT = "rebuild it on this machine with `cnn2gnn build`"


@dataclass
class EngineSidecar:
    tensorrt_version: str  # major.minor.patch of the TensorRT that built the engine
    gpu_name: str
    compute_capability: str  # "8.7"
    precision: str  # fp32 | fp16 | int8
    batch_profile: dict[str, int]  # {"min", "opt", "max"}
    source_onnx: str  # file name of the ONNX the engine was built from
    source_onnx_sha256: str
    engine_sha256: str
    input_name: str
    input_shape: list[int]  # [-1, C, H, W]
    output_name: str
    quantization: str | None = None  # "qdq" | "calibrated" | None
    version_compatible: bool = False
    hardware_compatibility: str | None = None  # "AMPERE_PLUS" | "SAME_COMPUTE_CAPABILITY" | None
    dla_core: int | None = None
    refittable: bool = False  # built with BuilderFlag.REFIT (`build --refittable`)
    # Refittable engines: what `cnn2gnn refit` checks a new ONNX against (the checksum of everything outside the
    # anchor bank, each bank weight's shape, dtype and sha256) and the refits done so far.
    refit: dict[str, Any] = field(default_factory=dict)
    build_options: dict[str, Any] = field(default_factory=dict)
    model_metadata: dict[str, Any] = field(default_factory=dict)  # the source ONNX's ModelMetadata
    key: dict[str, Any] = field(default_factory=dict)  # engine_key(...) of this build
    cnn2gnn_version: str = __version__
    built_at: str = ""
    format: str = ENGINE_SIDECAR_FORMAT

    @property
    def min_batch(self) -> int:
        return int(self.batch_profile["min"])

    @property
    def opt_batch(self) -> int:
        return int(self.batch_profile["opt"])

    @property
    def max_batch(self) -> int:
        return int(self.batch_profile["max"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "engine sidecar") -> "EngineSidecar":
        if data.get("format") != ENGINE_SIDECAR_FORMAT:
            raise Cnn2GnnError(
                f"{source}: not a cnn2gnn engine sidecar (format {data.get('format')!r}, expected "
                f"{ENGINE_SIDECAR_FORMAT!r}); {_REBUILD_HINT}"
            )
        known = set(cls.__dataclass_fields__)
        try:
            sidecar = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise Cnn2GnnError(f"{source}: engine sidecar is incomplete ({exc}); {_REBUILD_HINT}") from exc
        if not {"min", "opt", "max"} <= set(sidecar.batch_profile):
            raise Cnn2GnnError(f"{source}: batch_profile lacks min/opt/max ({sidecar.batch_profile}); {_REBUILD_HINT}")
        return sidecar

    @classmethod
    def from_json(cls, text: str, source: str = "engine sidecar") -> "EngineSidecar":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Cnn2GnnError(f"{source}: engine sidecar is not valid JSON ({exc}); {_REBUILD_HINT}") from exc
        if not isinstance(data, dict):
            raise Cnn2GnnError(f"{source}: engine sidecar is not a JSON object; {_REBUILD_HINT}")
        return cls.from_dict(data, source)


def write_engine_sidecar(engine_path: str | Path, sidecar: EngineSidecar) -> Path:
    """Write ``<engine>.json`` atomically; returns its path."""
    return atomic_write_json(sidecar_path(engine_path), sidecar.to_dict())


def read_engine_sidecar(engine_path: str | Path) -> EngineSidecar:
    return EngineSidecar.from_dict(read_sidecar(engine_path), source=str(sidecar_path(engine_path)))


def _version_problem(built: TrtVersion, running: TrtVersion, version_compatible: bool) -> str | None:
    if not version_compatible:
        if built == running:
            return None
        return (
            f"the engine was built with TensorRT {built} and this machine runs {running}; a plain engine loads only "
            f"on the TensorRT version that built it: {_REBUILD_HINT} (or build with --version-compatible)"
        )
    if running < built:
        return (
            f"the engine was built with TensorRT {built}, newer than this machine's {running}; engines never load on "
            f"an older runtime: {_REBUILD_HINT} or upgrade TensorRT"
        )
    if running.major == built.major or running.major in _CROSS_MAJOR_VERSION_COMPATIBILITY.get(built.major, ()):
        return None
    return (
        f"the version-compatible engine was built with TensorRT {built}; TensorRT {running.major}.x runtimes do not "
        f"load {built.major}.x engines: {_REBUILD_HINT}"
    )


def _gpu_problem(
    built_cc: tuple[int, int],
    running_cc: tuple[int, int],
    hardware_compatibility: str | None,
    built_gpu: str,
    running_gpu: str | None,
) -> str | None:
    level = (hardware_compatibility or "NONE").upper()
    built_text = compute_capability_text(built_cc)
    running_text = (
        f"{running_gpu} ({compute_capability_text(running_cc)})" if running_gpu else compute_capability_text(running_cc)
    )
    if level == "AMPERE_PLUS":
        if running_cc >= (8, 0):
            return None
        return (
            f"the engine is hardware-compatible for Ampere and newer GPUs (compute capability >= 8.0), "
            f"but this GPU is {running_text}: {_REBUILD_HINT}"
        )
    if running_cc == built_cc:
        return None
    return (
        f"the engine was built for compute capability {built_text} ({built_gpu}) and this GPU is {running_text}; "
        f"TensorRT engines are specific to the GPU they were built for: {_REBUILD_HINT}"
        + (" (or build with --hardware-compatible on an Ampere or newer desktop GPU)" if level == "NONE" else "")
    )


def compatibility_problems(
    sidecar: EngineSidecar,
    running_trt_version: str | TrtVersion,
    running_gpu_name: str | None,
    running_cc: str | tuple[int, int] | None,
) -> list[str]:
    """Why this engine will not load here, one sentence per problem with the fix; empty when it will.

    ``running_gpu_name`` / ``running_cc`` may be None when unknown (the GPU check is then skipped).
    A different GPU model of the same compute capability is not a problem: TensorRT loads the engine
    (with a warning), so the name only labels the message.
    """
    problems = []
    running = (
        running_trt_version if isinstance(running_trt_version, TrtVersion) else parse_trt_version(running_trt_version)
    )
    version_problem = _version_problem(parse_trt_version(sidecar.tensorrt_version), running, sidecar.version_compatible)
    if version_problem:
        problems.append(version_problem)
    if running_cc is not None:
        gpu_problem = _gpu_problem(
            parse_compute_capability(sidecar.compute_capability),
            parse_compute_capability(running_cc),
            sidecar.hardware_compatibility,
            sidecar.gpu_name,
            running_gpu_name,
        )
        if gpu_problem:
            problems.append(gpu_problem)
    return problems
