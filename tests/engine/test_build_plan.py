"""Every version-dependent build decision, for TensorRT 8.6, 10.3, 10.14, 11.0 and 11.4."""

import json

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import GpuInfo
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.engine.build_plan import plan_build

V86, V103, V1014, V110, V114 = (parse_trt_version(v) for v in ("8.6.1", "10.3.0", "10.14.1", "11.0.0", "11.4.0"))
ALL = [V86, V103, V1014, V110, V114]
TRT10 = [V103, V1014]
TRT11 = [V110, V114]
ORIN = GpuInfo("Orin", (8, 7), integrated=True)
RTX = GpuInfo("NVIDIA GeForce RTX 3090", (8, 6), integrated=False)
T4 = GpuInfo("Tesla T4", (7, 5), integrated=False)


def plan(version, precision, qdq=False, fp16=False, calib=False, **kw):
    return plan_build(version, precision, qdq, fp16, calib, model="m.onnx", **kw)


@pytest.mark.parametrize("version", ALL, ids=str)
def test_fp32_from_fp32_onnx(version):
    p = plan(version, "fp32")
    assert p.builder_flags == () and p.network_flags == ()
    assert p.cleared_builder_flags == ("TF32",)  # "fp32" means FP32 MatMuls, not TF32
    assert p.strongly_typed == (version.major >= 11)
    assert not p.use_calibrator and not p.convert_to_fp16 and p.quantization is None
    assert p.warnings == ()


@pytest.mark.parametrize("version", [V86, *TRT10], ids=str)
def test_fp16_from_fp32_onnx_uses_the_builder_flag_before_11(version):
    p = plan(version, "fp16")
    assert p.builder_flags == ("FP16",)
    assert not p.convert_to_fp16 and not p.strongly_typed


@pytest.mark.parametrize("version", TRT11, ids=str)
def test_fp16_from_fp32_onnx_converts_the_onnx_on_11(version):
    p = plan(version, "fp16")
    assert p.convert_to_fp16
    assert "FP16" not in p.builder_flags and p.network_flags == ()
    assert p.strongly_typed
    assert any("no FP16 builder flag" in w for w in p.warnings)


@pytest.mark.parametrize(
    "version, network_flags, builder_flags, strongly_typed",
    [
        (V86, (), ("FP16",), False),
        (V103, ("STRONGLY_TYPED",), (), True),
        (V1014, ("STRONGLY_TYPED",), (), True),
        (V110, (), (), True),
        (V114, (), (), True),
    ],
    ids=str,
)
def test_fp16_from_fp16_onnx(version, network_flags, builder_flags, strongly_typed):
    p = plan(version, "fp16", fp16=True)
    assert (p.network_flags, p.builder_flags, p.strongly_typed) == (network_flags, builder_flags, strongly_typed)
    assert not p.convert_to_fp16


@pytest.mark.parametrize(
    "version, network_flags, builder_flags",
    [
        (V86, (), ("INT8",)),
        (V103, ("STRONGLY_TYPED",), ()),
        (V1014, ("STRONGLY_TYPED",), ()),
        (V110, (), ()),
        (V114, (), ()),
    ],
    ids=str,
)
def test_int8_from_qdq_onnx_is_explicit_quantization_everywhere(version, network_flags, builder_flags):
    p = plan(version, "int8", qdq=True)
    assert p.quantization == "qdq"
    assert (p.network_flags, p.builder_flags) == (network_flags, builder_flags)
    assert not p.use_calibrator


def test_qdq_with_a_calibration_set_warns_that_it_is_unused():
    p = plan(V103, "int8", qdq=True, calib=True)
    assert not p.use_calibrator
    assert any("calibration-set is not used" in w for w in p.warnings)


@pytest.mark.parametrize("version", [V86, *TRT10], ids=str)
def test_implicit_int8_with_calibration_on_10_and_before(version):
    p = plan(version, "int8", calib=True)
    assert p.use_calibrator and p.quantization == "calibrated"
    assert p.builder_flags == ("INT8",)
    deprecated = any("deprecated since TensorRT 10.1" in w for w in p.warnings)
    assert deprecated == (version >= (10, 1, 0))


@pytest.mark.parametrize("version", TRT11, ids=str)
@pytest.mark.parametrize("calib", [True, False])
def test_implicit_int8_is_refused_on_11_with_the_qdq_route(version, calib):
    with pytest.raises(Cnn2GnnError, match=r"removed in TensorRT 11.*cnn2gnn calibrate"):
        plan(version, "int8", calib=calib)


@pytest.mark.parametrize("version", [V86, *TRT10], ids=str)
def test_int8_from_fp32_without_calibration_set_says_what_to_pass(version):
    with pytest.raises(
        Cnn2GnnError, match=r"--calibration-set.*cnn2gnn calibrate|cnn2gnn calibrate.*--calibration-set"
    ):
        plan(version, "int8")


@pytest.mark.parametrize("version", ALL, ids=str)
@pytest.mark.parametrize(
    "precision, qdq, fp16, calib, message",
    [
        ("fp32", True, False, False, "Q/DQ"),
        ("fp16", True, False, False, "Q/DQ"),
        ("fp32", False, True, False, "FP16 weights"),
        ("int8", False, True, False, "FP16 model"),
        ("fp16", False, False, True, "--calibration-set is used with --precision int8 only"),
        ("bf16", False, False, False, "unknown"),
    ],
)
def test_contradictory_requests_are_refused(version, precision, qdq, fp16, calib, message):
    with pytest.raises(Cnn2GnnError, match=message):
        plan(version, precision, qdq=qdq, fp16=fp16, calib=calib)


def test_dla_adds_gpu_fallback_and_device():
    p = plan(V103, "fp16", dla_core=1, gpu=ORIN)
    assert p.device == "DLA" and p.dla_core == 1
    assert "GPU_FALLBACK" in p.builder_flags and "FP16" in p.builder_flags


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dla_core": 0, "gpu": ORIN, "precision": "fp32"}, "FP16 and INT8 layers only"),
        ({"dla_core": 0, "gpu": RTX}, "has no DLA"),
        ({"dla_core": -1, "gpu": ORIN}, "0 or more"),
        ({"dla_core": 0, "hardware_compatible": True}, "exclude each other"),
    ],
)
def test_dla_misuse(kwargs, message):
    precision = kwargs.pop("precision", "fp16")
    with pytest.raises(Cnn2GnnError, match=message):
        plan(V103, precision, **kwargs)


@pytest.mark.parametrize("version", ALL, ids=str)
def test_version_compatible_flag(version):
    assert "VERSION_COMPATIBLE" in plan(version, "fp32", version_compatible=True).builder_flags


def test_version_compatible_needs_8_6():
    with pytest.raises(Cnn2GnnError, match="8.6 or newer"):
        plan(parse_trt_version("8.5.2"), "fp32", version_compatible=True)


@pytest.mark.parametrize("version", ALL, ids=str)
def test_hardware_compatible_on_an_ampere_desktop(version):
    p = plan(version, "fp16", hardware_compatible=True, gpu=RTX)
    assert p.hardware_compatibility_level == "AMPERE_PLUS"


@pytest.mark.parametrize(
    "version, gpu, message",
    [
        (V103, ORIN, "not supported on Jetson"),
        (V114, T4, "Ampere or newer GPU"),
        (parse_trt_version("8.5.2"), RTX, "8.6"),
    ],
)
def test_hardware_compatible_refusals(version, gpu, message):
    with pytest.raises(Cnn2GnnError, match=message):
        plan(version, "fp32", hardware_compatible=True, gpu=gpu)


@pytest.mark.parametrize("version", ALL, ids=str)
def test_progress_monitor_from_10(version):
    assert plan(version, "fp32").use_progress_monitor == (version.major >= 10)


def test_plan_serialises_to_json():
    data = plan(V1014, "int8", calib=True, dla_core=0, gpu=ORIN).to_dict()
    assert json.loads(json.dumps(data))["builder_flags"] == ["INT8", "GPU_FALLBACK"]


@pytest.mark.parametrize("version", ALL, ids=str)
def test_refittable_sets_refit_not_refit_identical(version):
    built = plan(version, "fp32", refittable=True)
    assert built.refittable and "REFIT" in built.builder_flags and "REFIT_IDENTICAL" not in built.builder_flags
    assert not plan(version, "fp32").refittable and "REFIT" not in plan(version, "fp32").builder_flags


@pytest.mark.parametrize("version", ALL, ids=str)
def test_the_known_gemm_bias_issue_is_warned_from_11_3(version):
    warned = any("drop a GEMM's bias" in w for w in plan(version, "fp32", refittable=True).warnings)
    assert warned == (version >= parse_trt_version("11.3.0"))
    assert not any("GEMM" in w for w in plan(version, "fp32").warnings)


@pytest.mark.parametrize("version", TRT11, ids=str)
def test_refittable_fp16_from_an_fp32_onnx_on_11_is_refused(version):
    with pytest.raises(Cnn2GnnError, match=r"--refittable with --precision fp16 on TensorRT 11.*--precision fp32 "
                                           r"--refittable"):
        plan(version, "fp16", refittable=True)


@pytest.mark.parametrize("version", TRT10, ids=str)
def test_refittable_fp16_on_10_uses_the_builder_flag(version):
    assert plan(version, "fp16", refittable=True).builder_flags == ("FP16", "REFIT")
