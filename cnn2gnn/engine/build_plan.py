"""What a TensorRT build will do, decided before TensorRT is touched: flags, calibrator, conversions.

:func:`plan_build` holds every version-dependent decision (8.6 / 10.x / 11.x), so the TensorRT-facing
code only applies a plan and each branch is tested without a GPU. Flags are named by their TensorRT
member names (``BuilderFlag.FP16`` -> ``"FP16"``); the builder looks them up on the installed module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import GpuInfo, sm_tag
from cnn2gnn.contracts.trt_version import TrtVersion

PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATE_HINT = "make one with `cnn2gnn calibrate` (explicit Q/DQ quantization, works on TensorRT 10 and 11)"


@dataclass(frozen=True)
class BuildPlan:
    precision: str  # fp32 | fp16 | int8
    quantization: str | None  # "qdq" (explicit, from the ONNX) | "calibrated" (implicit) | None
    network_flags: tuple[str, ...]  # trt.NetworkDefinitionCreationFlag members
    builder_flags: tuple[str, ...]  # trt.BuilderFlag members to set
    cleared_builder_flags: tuple[str, ...]  # trt.BuilderFlag members to clear when present
    strongly_typed: bool
    use_calibrator: bool
    convert_to_fp16: bool  # TensorRT 11 + FP32 ONNX + fp16: convert the ONNX first
    device: str  # GPU | DLA
    dla_core: int | None
    version_compatible: bool
    hardware_compatibility_level: str | None  # trt.HardwareCompatibilityLevel member
    refittable: bool  # BuilderFlag.REFIT: `cnn2gnn refit` can set new anchor-bank weights later
    use_progress_monitor: bool
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("network_flags", "builder_flags", "cleared_builder_flags", "warnings"):
            out[key] = list(out[key])
        return out


def _check_model_matches_precision(
    precision: str, onnx_is_qdq: bool, onnx_is_fp16: bool, calibration_available: bool, model: str
) -> None:
    if precision not in PRECISIONS:
        raise Cnn2GnnError(f"precision {precision!r} unknown; use one of {', '.join(PRECISIONS)}")
    if onnx_is_qdq and precision != "int8":
        raise Cnn2GnnError(
            f"{model} is a Q/DQ (INT8) model, so it builds an INT8 engine only: use --precision int8, "
            f"or pass the FP32 ONNX for --precision {precision}"
        )
    if onnx_is_fp16 and not onnx_is_qdq and precision == "fp32":
        raise Cnn2GnnError(
            f"{model} carries FP16 weights, so an engine built from it is not FP32: "
            "use --precision fp16, or pass the FP32 ONNX for --precision fp32"
        )
    if onnx_is_fp16 and not onnx_is_qdq and precision == "int8":
        raise Cnn2GnnError(
            f"{model} is an FP16 model; an INT8 engine needs a Q/DQ ONNX ({CALIBRATE_HINT}) "
            "or the FP32 ONNX with --calibration-set (TensorRT <= 10)"
        )
    if calibration_available and precision != "int8":
        raise Cnn2GnnError(f"--calibration-set is used with --precision int8 only, not {precision}; drop it")


def plan_build(
    version: TrtVersion,
    precision: str,
    onnx_is_qdq: bool,
    onnx_is_fp16: bool,
    calibration_available: bool,
    *,
    dla_core: int | None = None,
    version_compatible: bool = False,
    hardware_compatible: bool = False,
    refittable: bool = False,
    gpu: GpuInfo | None = None,
    model: str = "the ONNX model",
) -> BuildPlan:
    """Decide how TensorRT ``version`` builds ``precision`` from this ONNX, or raise
    :class:`Cnn2GnnError` naming what this version cannot do and what to do instead."""
    _check_model_matches_precision(precision, onnx_is_qdq, onnx_is_fp16, calibration_available, model)
    network_flags: list[str] = []
    builder_flags: list[str] = []
    cleared: list[str] = []
    warnings: list[str] = []
    quantization: str | None = None
    use_calibrator = False
    convert_to_fp16 = False
    # 11.x networks are strongly typed without asking; 9.x/10.x ask with a flag; 8.x cannot.
    strongly_typed = version.strongly_typed_only

    def want_strong_typing() -> bool:
        nonlocal strongly_typed
        if version.has_strongly_typed_flag:
            network_flags.append("STRONGLY_TYPED")
            strongly_typed = True
        return strongly_typed

    if precision == "fp32":
        # TF32 is on by default for FP32 layers on Ampere+ and rounds MatMul inputs to FP16's 10-bit
        # mantissa, which changed 4% of the digits student's neighbour sets: an "fp32" engine stays FP32.
        cleared.append("TF32")
    elif precision == "fp16":
        if onnx_is_fp16:
            if not want_strong_typing():
                builder_flags.append("FP16")
        elif version.supports_precision_flags:
            builder_flags.append("FP16")
        else:
            convert_to_fp16 = True
            warnings.append(
                f"TensorRT {version} has no FP16 builder flag: {model} is converted to an FP16 ONNX "
                "(FP32 inputs/outputs, TopK and the neighbour-distance path kept in FP32) before building"
            )
    else:
        if onnx_is_qdq:
            quantization = "qdq"
            if not want_strong_typing():
                builder_flags.append("INT8")  # 8.x builds Q/DQ networks weakly typed with INT8 enabled
            if calibration_available:
                warnings.append(f"{model} is a Q/DQ model and carries its own scales: --calibration-set is not used")
        else:
            if not version.supports_implicit_int8:
                raise Cnn2GnnError(
                    f"implicit INT8 calibration (calibrator + calibration cache) was removed in TensorRT 11 "
                    f"(this is {version}); build the Q/DQ model of {model} instead: {CALIBRATE_HINT}"
                )
            if not calibration_available:
                raise Cnn2GnnError(
                    f"{model} is an FP32 model: --precision int8 needs a Q/DQ ONNX ({CALIBRATE_HINT}) "
                    f"or --calibration-set PATH for implicit calibration (TensorRT <= 10; this is {version})"
                )
            quantization = "calibrated"
            use_calibrator = True
            builder_flags.append("INT8")
            if version.implicit_int8_deprecated:
                warnings.append(
                    f"implicit INT8 calibration is deprecated since TensorRT 10.1 and removed in 11; "
                    f"prefer the Q/DQ model ({CALIBRATE_HINT})"
                )

    device = "GPU"
    if dla_core is not None:
        if dla_core < 0:
            raise Cnn2GnnError(f"--dla-core must be 0 or more, got {dla_core}")
        if precision == "fp32":
            raise Cnn2GnnError("the DLA runs FP16 and INT8 layers only: use --precision fp16 or int8 with --dla-core")
        if hardware_compatible:
            raise Cnn2GnnError("--hardware-compatible and --dla-core exclude each other: DLA engines are Jetson-only")
        if gpu is not None and not gpu.integrated:
            raise Cnn2GnnError(
                f"--dla-core {dla_core}: this GPU ({gpu.name}) has no DLA; DLA cores exist on Jetson Xavier and Orin"
            )
        device = "DLA"
        builder_flags.append("GPU_FALLBACK")  # layers the DLA cannot run go to the GPU instead of failing

    if version_compatible:
        if not version.supports_version_compatible:
            raise Cnn2GnnError(f"--version-compatible needs TensorRT 8.6 or newer (this is {version})")
        builder_flags.append("VERSION_COMPATIBLE")

    hardware_level: str | None = None
    if hardware_compatible:
        if not version.supports_hardware_compatibility:
            raise Cnn2GnnError(f"--hardware-compatible needs TensorRT 8.6 or newer (this is {version})")
        if gpu is not None and gpu.integrated:
            raise Cnn2GnnError(
                f"--hardware-compatible is not supported on Jetson/JetPack ({gpu.name}); build on each device instead"
            )
        if gpu is not None and gpu.compute_capability < (8, 0):
            raise Cnn2GnnError(
                f"--hardware-compatible (Ampere and newer) must be built on an Ampere or newer GPU; "
                f"this is {gpu.name} ({sm_tag(gpu.compute_capability)})"
            )
        hardware_level = "AMPERE_PLUS"

    if refittable:
        if convert_to_fp16:
            # The engine's weights would be the converted ONNX's (FP16 where the converter chose), not the
            # enrolled model's FP32 ones, so no refit from `cnn2gnn enroll` could match them.
            raise Cnn2GnnError(
                f"--refittable with --precision fp16 on TensorRT {version}: the engine is built from an FP16 "
                f"conversion of {model}, whose weights a refit from an enrolled FP32 model cannot match; build "
                "--precision fp32 --refittable, or build without --refittable and rebuild after each enrolment"
            )
        # REFIT, not REFIT_IDENTICAL: enrolment changes the weights' values, which REFIT_IDENTICAL forbids.
        builder_flags.append("REFIT")
        if version.refit_may_drop_gemm_bias:
            warnings.append(
                f"TensorRT {version}: the 11.3 release notes list a known issue where a refittable engine can drop a "
                "GEMM's bias (the student's distances have one); check the engine against ONNX Runtime "
                f"(`cnn2gnn compare ENGINE {model} --data SPEC`); `cnn2gnn refit` checks every refitted engine that way"
            )

    return BuildPlan(
        precision=precision,
        quantization=quantization,
        network_flags=tuple(network_flags),
        builder_flags=tuple(builder_flags),
        cleared_builder_flags=tuple(cleared),
        strongly_typed=strongly_typed,
        use_calibrator=use_calibrator,
        convert_to_fp16=convert_to_fp16,
        device=device,
        dla_core=dla_core,
        version_compatible=version_compatible,
        hardware_compatibility_level=hardware_level,
        refittable=refittable,
        use_progress_monitor=version.has_progress_monitor,
        warnings=tuple(warnings),
    )
