"""Real TensorRT builds of the tiny models, run and compared with ONNX Runtime on the CPU.

Needs TensorRT, an NVIDIA GPU and cuda-python or pycuda; skipped (with the reason) where any is absent.
"""

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not tensorrt_available(), reason="needs TensorRT (not installed here)"),
]


def run_engine(engine_path, batch):
    from cnn2gnn.runtime.backends.tensorrt.runner import TensorRTRunner

    with TensorRTRunner(engine_path) as backend:
        return backend.infer(batch)


def run_onnx(onnx_path, batch):
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": batch})[0]


def inputs(n, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32)


def test_fp32_engine_matches_onnx_runtime(linear_onnx, tmp_path, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    result = engine_from_onnx(linear_onnx, tmp_path, "fp32", max_batch=16, progress=False)
    assert not result.reused and result.engine_path.parent == tmp_path
    assert result.sidecar.compute_capability == f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
    assert result.sidecar.batch_profile == {"min": 1, "opt": 1, "max": 16}
    x = inputs(5)
    np.testing.assert_allclose(run_engine(result.engine_path, x), run_onnx(linear_onnx, x), atol=1e-4)


def test_reuse_refusal_and_force(linear_onnx, tmp_path, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    first = engine_from_onnx(linear_onnx, tmp_path, "fp32", max_batch=16, progress=False)
    again = engine_from_onnx(linear_onnx, tmp_path, "fp32", max_batch=16, progress=False)
    assert again.reused and again.engine_path == first.engine_path
    with pytest.raises(Cnn2GnnError, match="max_batch: engine has 16, wanted 32"):
        engine_from_onnx(linear_onnx, tmp_path, "fp32", max_batch=32, progress=False)
    forced = engine_from_onnx(linear_onnx, tmp_path, "fp32", max_batch=32, force=True, progress=False)
    assert not forced.reused and forced.sidecar.max_batch == 32


def test_fp16_engine_agrees_with_fp32_on_digits(anchor_onnx, tmp_path, digits, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    result = engine_from_onnx(anchor_onnx, tmp_path, "fp16", max_batch=64, progress=False)
    test_x = digits[2][:64]
    agreement = np.mean(run_engine(result.engine_path, test_x).argmax(1) == run_onnx(anchor_onnx, test_x).argmax(1))
    assert agreement >= 0.98


def test_fp16_onnx_builds_strongly_typed(fp16_onnx, tmp_path, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    result = engine_from_onnx(fp16_onnx, tmp_path, "fp16", max_batch=8, progress=False)
    x = inputs(3)
    np.testing.assert_allclose(run_engine(result.engine_path, x), run_onnx(fp16_onnx, x), atol=2e-2)


def test_qdq_int8_engine(qdq_onnx, tmp_path, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    result = engine_from_onnx(qdq_onnx, tmp_path, "int8", max_batch=8, progress=False)
    assert result.sidecar.quantization == "qdq" and not result.plan.use_calibrator
    x = inputs(4)
    np.testing.assert_allclose(run_engine(result.engine_path, x), run_onnx(qdq_onnx, x), atol=5e-2)


def test_timing_cache_is_saved_and_reused(linear_onnx, tmp_path, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    cache = tmp_path / "timing.cache"
    engine_from_onnx(linear_onnx, tmp_path / "a", "fp32", timing_cache=cache, progress=False)
    assert cache.stat().st_size > 0
    rebuilt = engine_from_onnx(linear_onnx, tmp_path / "b", "fp32", timing_cache=cache, progress=False)
    assert not rebuilt.reused and rebuilt.engine_path.is_file()


def test_implicit_int8_calibration_writes_a_keyed_cache(linear_onnx, tmp_path, digits, gpu):
    import tensorrt

    from cnn2gnn.calibration.tensorrt_calibration_cache import calibration_cache_key_path
    from cnn2gnn.contracts.calibration_set import save_calibration_set
    from cnn2gnn.contracts.trt_version import parse_trt_version
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx
    from tests.engine._onnx_models import SPEC

    if not parse_trt_version(tensorrt.__version__).supports_implicit_int8:
        pytest.skip("implicit INT8 calibration was removed in TensorRT 11")
    calibration_set = save_calibration_set(
        tmp_path / "set.npz", digits[0][:64], {"dataset": "digits", "preprocessing": SPEC.to_dict()}
    )
    cache = tmp_path / "linear.calib"
    first = engine_from_onnx(
        linear_onnx, tmp_path / "a", "int8", calibration_set=calibration_set, calibration_cache=cache, progress=False
    )
    assert first.sidecar.quantization == "calibrated" and cache.stat().st_size > 0
    assert calibration_cache_key_path(cache).is_file()
    second = engine_from_onnx(
        linear_onnx, tmp_path / "b", "int8", calibration_set=calibration_set, calibration_cache=cache, progress=False
    )
    assert not second.reused and second.engine_path.is_file()  # built again from the cached scales
    x = digits[2][:16]
    agreement = np.mean(run_engine(second.engine_path, x).argmax(1) == run_onnx(linear_onnx, x).argmax(1))
    assert agreement >= 0.8
