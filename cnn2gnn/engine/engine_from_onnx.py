"""Build a TensorRT engine from a cnn2gnn ONNX model (TensorRT 10.x and 11.x; 8.6 where it can).

Everything version-dependent is decided first by :func:`~cnn2gnn.engine.build_plan.plan_build`; this
module applies the plan through TensorRT's documented Python API. TensorRT, cuda-python / pycuda and
onnx are imported inside the functions, so the module imports on machines without them.

Output: a plain serialized engine (what trtexec and Triton load as is), written atomically, plus the
JSON sidecar ``<engine>.json`` (:class:`~cnn2gnn.contracts.engine_sidecar.EngineSidecar`). An existing
engine is reused only when its sidecar's key equals this build's; otherwise it is refused with the
mismatches named, or rebuilt with ``force``. A refittable build (``refittable``: BuilderFlag.REFIT) also
records what ``cnn2gnn refit`` checks a later model against (:func:`~cnn2gnn.engine.refit_weights.refit_record`).
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn2gnn import __version__
from cnn2gnn.calibration.calibration_batches import CalibrationBatches
from cnn2gnn.calibration.tensorrt_calibration_cache import calibration_cache_key
from cnn2gnn.contracts.atomic_io import atomic_write_together, json_text, sha256_bytes
from cnn2gnn.contracts.engine_sidecar import EngineSidecar, read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import compute_capability_text, query_gpu_info
from cnn2gnn.contracts.graph_spec import TENSORRT_TOPK_LIMIT
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.trt_version import TrtVersion, parse_trt_version
from cnn2gnn.engine.build_plan import BuildPlan, plan_build
from cnn2gnn.engine.engine_key import decide_engine_reuse, engine_key_for_plan, resolve_engine_path
from cnn2gnn.engine.onnx_facts import OnnxFacts, read_onnx_facts
from cnn2gnn.engine.profiles import Shape, image_dims, profile_shapes
from cnn2gnn.engine.refit_weights import refit_record, refit_weights_from_onnx
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt

if TYPE_CHECKING:
    import tensorrt as trt

    from cnn2gnn.runtime.backends.tensorrt.cuda_memory import CudaMemory

DEFAULT_WORKSPACE_BYTES = 1 << 30  # 1 GiB: large workspaces get builds "Killed" on 8 GB Jetsons
MIN_WORKSPACE_BYTES = 1 << 20
DEFAULT_CALIBRATION_BATCH = 8


@dataclass
class BuildResult:
    engine_path: Path
    sidecar_path: Path
    sidecar: EngineSidecar
    reused: bool
    build_seconds: float
    plan: BuildPlan
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": str(self.engine_path),
            "sidecar": str(self.sidecar_path),
            "reused": self.reused,
            "build_seconds": round(self.build_seconds, 3),
            "precision": self.sidecar.precision,
            "tensorrt_version": self.sidecar.tensorrt_version,
            "gpu": self.sidecar.gpu_name,
            "compute_capability": self.sidecar.compute_capability,
            "batch_profile": self.sidecar.batch_profile,
            "engine_sha256": self.sidecar.engine_sha256,
            "plan": self.plan.to_dict(),
            "warnings": list(self.warnings),
        }


@dataclass
class BuildCalibration:
    """An implicit-INT8 calibration set checked against the model, and the key of its cache."""

    batches: CalibrationBatches
    set_path: Path
    cache_key: dict[str, Any]
    key_sha256: str


def load_build_calibration(
    path: str | Path, facts: OnnxFacts, version: TrtVersion, batch_size: int
) -> BuildCalibration:
    """Read the calibration set made by ``cnn2gnn calibrate`` and check it fits this model."""
    from cnn2gnn.contracts.calibration_set import load_calibration_set

    tensors, set_key = load_calibration_set(path, None)
    expected = image_dims(facts.input_shape, facts.input_name)
    if tuple(tensors.shape[1:]) != expected:
        raise Cnn2GnnError(
            f"calibration set {path} holds images of shape {tuple(tensors.shape[1:])}, but {facts.path.name} "
            f"takes {expected}; make the set for this model with `cnn2gnn calibrate`"
        )
    # `cnn2gnn calibrate` keys a set by the model (its checkpoint's sha256, or the ONNX's) and preprocessing.
    made_for = {"checkpoint": facts.metadata.source_checkpoint_sha256, "onnx": facts.sha256}.get(
        str(set_key.get("model_hash_of"))
    )
    if made_for and set_key.get("model_sha256") not in (None, made_for):
        raise Cnn2GnnError(
            f"calibration set {path} was made for another model ({set_key.get('model_hash_of')} sha256 "
            f"{str(set_key.get('model_sha256'))[:12]}..., this one is {made_for[:12]}...); make the set for "
            f"{facts.path.name} with `cnn2gnn calibrate`"
        )
    recorded = set_key.get("preprocessing")
    if recorded is not None and recorded != facts.metadata.preprocessing.to_dict():
        raise Cnn2GnnError(
            f"calibration set {path} was preprocessed differently from {facts.path.name} "
            f"(set: {recorded}, model: {facts.metadata.preprocessing.to_dict()}); calibrating on it would give "
            "wrong INT8 scales: make the set for this model with `cnn2gnn calibrate`"
        )
    batches = CalibrationBatches(tensors, batch_size, source=str(path))
    cache_key = calibration_cache_key(
        source_onnx_sha256=facts.sha256,
        calibration_set_key=set_key,
        batch_shape=batches.batch_shape,
        tensorrt_version=str(version),
    )
    key_sha = sha256_bytes(json.dumps(cache_key, sort_keys=True, default=str).encode())
    return BuildCalibration(batches, Path(path), cache_key, key_sha)


def _member(enum: Any, name: str, version: TrtVersion) -> Any:
    try:
        return getattr(enum, name)
    except AttributeError:
        raise Cnn2GnnError(
            f"this build needs {getattr(enum, '__name__', 'TensorRT')}.{name}, which TensorRT {version} does not have; "
            "upgrade TensorRT or drop the option that needs it"
        ) from None


def _parser_errors(parser: "trt.OnnxParser") -> list[str]:
    out = []
    for i in range(parser.num_errors):
        error = parser.get_error(i)
        where = f"node {error.node()}"
        node_name = getattr(error, "node_name", None)  # 10.0+: also the node's name and operator
        if node_name is not None:
            where += f" ({error.node_operator()} {node_name()!r})"
        out.append(f"{where}: {error.desc()}")
    return out


def _check_network_io(network: "trt.INetworkDefinition", facts: OnnxFacts) -> None:
    inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    if inputs != [facts.input_name]:
        raise Cnn2GnnError(
            f"{facts.path.name}: TensorRT parsed inputs {inputs}, expected exactly [{facts.input_name!r}] "
            "(from its metadata); re-export the model with `cnn2gnn export`"
        )


def _serialized_engine(
    parse_path: Path,
    facts: OnnxFacts,
    plan: BuildPlan,
    version: TrtVersion,
    shapes: tuple[Shape, Shape, Shape],
    workspace_bytes: int,
    timing_cache: Path | None,
    calibrator: Any,
    calibration_shape: Shape | None,
    progress: bool,
) -> bytes:
    import tensorrt as trt

    from cnn2gnn.engine.progress_monitor import create_progress_monitor
    from cnn2gnn.engine.timing_cache import load_timing_cache, save_timing_cache

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(_member(trt.NetworkDefinitionCreationFlag, name, version))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(parse_path.read_bytes(), str(parse_path)):
        listed = "\n  - ".join(_parser_errors(parser)) or "(the parser gave no details)"
        raise Cnn2GnnError(
            f"TensorRT {version} cannot parse {parse_path}:\n  - {listed}\n"
            "Unsupported ops or shapes: re-export with `cnn2gnn export` "
            f"(TopK needs a constant K <= {TENSORRT_TOPK_LIMIT})"
        )
    _check_network_io(network, facts)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    for name in plan.builder_flags:
        config.set_flag(_member(trt.BuilderFlag, name, version))
    for name in plan.cleared_builder_flags:
        member = getattr(trt.BuilderFlag, name, None)
        if member is not None:
            config.clear_flag(member)
    profile = builder.create_optimization_profile()
    profile.set_shape(facts.input_name, trt.Dims(list(shapes[0])), trt.Dims(list(shapes[1])), trt.Dims(list(shapes[2])))
    config.add_optimization_profile(profile)
    if plan.device == "DLA" and plan.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    if plan.hardware_compatibility_level is not None:
        config.hardware_compatibility_level = _member(
            trt.HardwareCompatibilityLevel, plan.hardware_compatibility_level, version
        )
    if timing_cache is not None:
        load_timing_cache(config, timing_cache)
    if progress and plan.use_progress_monitor:
        config.progress_monitor = create_progress_monitor()
    if calibrator is not None and calibration_shape is not None:
        config.int8_calibrator = calibrator
        # Calibration runs at one fixed shape: the calibration batches' own.
        calibration_profile = builder.create_optimization_profile()
        fixed = trt.Dims(list(calibration_shape))
        calibration_profile.set_shape(facts.input_name, fixed, fixed, fixed)
        config.set_calibration_profile(calibration_profile)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise Cnn2GnnError(
            f"TensorRT {version} could not build an engine from {parse_path.name} (its errors are printed above). "
            f"Common causes: too little workspace for the kernels it wants (raise --workspace-mib, now "
            f"{workspace_bytes >> 20}); on a Jetson, the build running out of memory (close other programs, add "
            "swap, lower --max-batch or --workspace-mib)"
        )
    if timing_cache is not None:
        save_timing_cache(config, timing_cache)
    return bytes(serialized)


def engine_from_onnx(
    onnx_path: str | Path,
    out_dir_or_path: str | Path | None = None,
    precision: str = "fp32",
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
    timing_cache: str | Path | None = None,
    dla_core: int | None = None,
    version_compatible: bool = False,
    hardware_compatible: bool = False,
    refittable: bool = False,
    calibration_set: str | Path | None = None,
    calibration_cache: str | Path | None = None,
    calibration_batch: int = DEFAULT_CALIBRATION_BATCH,
    force: bool = False,
    progress: bool = True,
    device_memory: CudaMemory | None = None,
) -> BuildResult:
    """Build (or reuse) the engine for ``onnx_path``; see ``cnn2gnn build --help`` for the options.

    ``out_dir_or_path``: an engine file (.engine / .plan / .trt), or a folder that gets the default
    name (None: the ONNX's folder). Batch sizes left None default from the model (see
    :func:`~cnn2gnn.engine.profiles.batch_profile`). ``device_memory`` (implicit INT8 only): a
    :class:`~cnn2gnn.runtime.backends.tensorrt.cuda_memory.CudaMemory` to take calibration buffers from
    (default: a new one).
    """
    if workspace_bytes < MIN_WORKSPACE_BYTES:
        raise Cnn2GnnError(f"workspace must be at least 1 MiB, got {workspace_bytes} bytes")
    # The input first: a user without TensorRT still learns that the file is missing, not ONNX, or not ours.
    facts = read_onnx_facts(onnx_path)
    # A refit sets anchor-bank weights: a model without a bank is refused here, before TensorRT is looked for.
    refit_weights = refit_weights_from_onnx(facts.path) if refittable else None
    version = parse_trt_version(require_tensorrt())
    gpu = query_gpu_info()
    shapes = profile_shapes(facts.input_shape, min_batch, opt_batch, max_batch, input_name=f"{facts.path.name} input")
    lo, opt, hi = shapes[0][0], shapes[1][0], shapes[2][0]
    plan = plan_build(
        version,
        precision,
        facts.is_qdq,
        facts.is_fp16,
        calibration_set is not None,
        dla_core=dla_core,
        version_compatible=version_compatible,
        hardware_compatible=hardware_compatible,
        refittable=refittable,
        gpu=gpu,
        model=str(facts.path),
    )
    calibration = (
        load_build_calibration(calibration_set, facts, version, calibration_batch)
        if (plan.use_calibrator and calibration_set is not None)
        else None
    )
    key = engine_key_for_plan(facts, plan, version, gpu, (lo, opt, hi), calibration.key_sha256 if calibration else None)
    engine_path = resolve_engine_path(out_dir_or_path, facts.path, key)
    warnings = list(plan.warnings)
    if decide_engine_reuse(engine_path, key, force):
        return BuildResult(
            engine_path, sidecar_path(engine_path), read_engine_sidecar(engine_path), True, 0.0, plan, warnings
        )

    build_options: dict[str, Any] = {
        "workspace_bytes": workspace_bytes,
        "timing_cache": str(timing_cache) if timing_cache else None,
        "network_flags": list(plan.network_flags),
        "builder_flags": list(plan.builder_flags),
        "cleared_builder_flags": list(plan.cleared_builder_flags),
        "strongly_typed": plan.strongly_typed,
        "warnings": warnings,
    }
    parse_path = facts.path
    if plan.convert_to_fp16:
        from cnn2gnn.engine.fp16 import fp16_onnx_from_fp32

        parse_path = engine_path.with_name(f"{facts.path.stem}.fp16.onnx")
        conversion = fp16_onnx_from_fp32(facts.path, parse_path)
        build_options["fp16_conversion"] = {"onnx": parse_path.name, **conversion.to_dict()}

    calibrator = None
    if calibration is not None:
        from cnn2gnn.calibration.tensorrt_calibrator import create_entropy_calibrator

        cache_path = (
            Path(calibration_cache) if calibration_cache else engine_path.with_name(engine_path.name + ".calib")
        )
        build_options["calibration"] = {
            "set": str(calibration.set_path),
            "cache": str(cache_path),
            "batch_shape": list(calibration.batches.batch_shape),
            "batches": calibration.batches.num_batches,
            "samples_used": calibration.batches.num_samples_used,
            "samples_dropped": calibration.batches.num_samples_dropped,
        }
        # Created before TensorRT parses anything: a cache made for another build is refused right here.
        calibrator = create_entropy_calibrator(
            calibration.batches,
            cache_path,
            calibration.cache_key,
            device_memory,
            reuse_cache=not force,
            progress=progress,
        )

    started = time.perf_counter()
    data = _serialized_engine(
        parse_path,
        facts,
        plan,
        version,
        shapes,
        workspace_bytes,
        Path(timing_cache) if timing_cache else None,
        calibrator,
        calibration.batches.batch_shape if calibration else None,
        progress,
    )
    seconds = time.perf_counter() - started
    sidecar = EngineSidecar(
        tensorrt_version=str(version),
        gpu_name=gpu.name,
        compute_capability=compute_capability_text(gpu.compute_capability),
        precision=precision,
        batch_profile={"min": lo, "opt": opt, "max": hi},
        source_onnx=facts.path.name,
        source_onnx_sha256=facts.sha256,
        engine_sha256=sha256_bytes(data),
        input_name=facts.input_name,
        input_shape=list(facts.input_shape),
        output_name=facts.output_name,
        quantization=plan.quantization,
        version_compatible=plan.version_compatible,
        hardware_compatibility=plan.hardware_compatibility_level,
        dla_core=plan.dla_core,
        refittable=plan.refittable,
        refit=refit_record(refit_weights) if refit_weights is not None else {},
        build_options=build_options,
        model_metadata=facts.metadata.to_dict(),
        key=key,
        cnn2gnn_version=__version__,
        built_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    write_engine_files(engine_path, data, sidecar)
    return BuildResult(engine_path, sidecar_path(engine_path), sidecar, False, seconds, plan, warnings)


def write_engine_files(engine_path: Path, data: bytes, sidecar: EngineSidecar) -> None:
    """The engine and its sidecar, both written in full before either is renamed into place (engine first):
    a failure or a kill never leaves a new engine beside an old sidecar, whose class names the runtime reads."""
    atomic_write_together((engine_path, data), (sidecar_path(engine_path), json_text(sidecar.to_dict()).encode("utf-8")))
