from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.engine_sidecar import EngineSidecar, write_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata, read_sidecar
from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.backends.tensorrt.loader import refuse_incompatible_engine
from cnn2gnn.runtime.backends.tensorrt.runner import TensorRTRunner
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available


def _write_engine_with_sidecar(engine: Path, meta: ModelMetadata, trt_version: str, gpu: str, cc: str,
                               profile=(1, 1, 8), hardware_compatibility=None) -> Path:
    if not engine.exists():
        engine.write_bytes(b"placeholder plan")
    write_engine_sidecar(engine, EngineSidecar(
        tensorrt_version=trt_version, gpu_name=gpu, compute_capability=cc, precision="fp32",
        batch_profile=dict(zip(("min", "opt", "max"), profile)), source_onnx="model.onnx",
        source_onnx_sha256="0" * 64, engine_sha256=sha256_file(engine), input_name=meta.input_name,
        input_shape=meta.input_shape, output_name=meta.output_name, model_metadata=meta.to_dict(),
        hardware_compatibility=hardware_compatibility,
    ))
    return engine


def test_engine_from_another_tensorrt_and_gpu_is_refused_with_every_reason(tmp_path, student_model):
    engine = _write_engine_with_sidecar(tmp_path / "m.engine", student_model.metadata, "10.3.0", "Orin", "8.7")
    with pytest.raises(Cnn2GnnError) as info:
        refuse_incompatible_engine(engine, "10.7.0.23", "NVIDIA GeForce RTX 4090", (8, 9))
    message = str(info.value)
    assert "m.engine cannot run here (TensorRT 10.7.0.23, NVIDIA GeForce RTX 4090, compute capability 8.9)" in message
    assert "built with TensorRT 10.3.0" in message and "compute capability 8.7 (Orin)" in message
    assert message.count("\n  - ") == 2
    assert "cnn2gnn build" in message and "--backend onnxruntime" in message


def test_matching_engine_passes_the_check(tmp_path, student_model):
    engine = _write_engine_with_sidecar(tmp_path / "m.engine", student_model.metadata, "10.3.0", "Orin", "8.7")
    refuse_incompatible_engine(engine, "10.3.0.26", "Orin", (8, 7))
    portable = _write_engine_with_sidecar(tmp_path / "p.engine", student_model.metadata, "10.3.0", "A100", "8.0",
                                          hardware_compatibility="AMPERE_PLUS")
    refuse_incompatible_engine(portable, "10.3.0", "RTX 4090", (8, 9))


def test_engine_without_sidecar_cannot_be_checked(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    with pytest.raises(Cnn2GnnError, match="sidecar"):
        refuse_incompatible_engine(engine, "10.3.0", "Orin", (8, 7))


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed")
def test_missing_tensorrt_says_how_to_install_it(tmp_path, student_model):
    engine = _write_engine_with_sidecar(tmp_path / "m.engine", student_model.metadata, "10.3.0", "Orin", "8.7")
    with pytest.raises(Cnn2GnnError) as info:
        load_backend(engine)
    message = str(info.value)
    assert "python3-libnvinfer" in message and "pip install tensorrt" in message
    assert "--backend onnxruntime" in message


# --- on a GPU with TensorRT ---------------------------------------------------------------------


def _build_engine(onnx_path: Path, engine_path: Path, meta: ModelMetadata, profile: tuple[int, int, int]) -> Path:
    """A plain FP32 engine straight from the TensorRT API, with the sidecar `cnn2gnn build` writes."""
    import tensorrt as trt

    from cnn2gnn.contracts.gpu_info import compute_capability_text, query_gpu_info

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(onnx_path.read_bytes()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    chw = meta.preprocessing.input_shape
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(meta.input_name, *[(b, *chw) for b in profile])
    config.add_optimization_profile(opt_profile)
    plan = builder.build_serialized_network(network, config)
    assert plan is not None
    engine_path.write_bytes(bytes(plan))
    gpu = query_gpu_info()
    return _write_engine_with_sidecar(engine_path, meta, trt.__version__, gpu.name,
                                      compute_capability_text(gpu.compute_capability), profile)


@pytest.mark.gpu
@pytest.mark.parametrize("library", ["cuda-python", "pycuda"])
def test_engine_matches_onnxruntime_with_split_and_padded_batches(library, student_model, digits, tmp_path):
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.runtime.backends.tensorrt.cuda_memory import create_cuda_memory

    try:
        memory = create_cuda_memory(prefer=library)
    except Cnn2GnnError as exc:
        pytest.skip(str(exc))
    engine = _build_engine(student_model.path, tmp_path / "student.engine", student_model.metadata, (2, 4, 8))
    batch = preprocess_images(digits.test.images[:19], student_model.metadata.preprocessing)
    with OnnxRuntimeRunner(student_model.path) as ort_backend:
        expected = ort_backend.infer(batch)
    with TensorRTRunner(engine, memory=memory) as trt_backend:
        assert (trt_backend.min_batch, trt_backend.max_batch) == (2, 8)
        got = trt_backend.infer(batch)  # 19 = 8 + 8 + 3 rows: split above max
        one = trt_backend.infer(batch[:1])  # 1 row padded up to min 2
    memory.close()
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-2)  # TF32 may be on for FP32 engines
    assert np.array_equal(got.argmax(1), expected.argmax(1))
    np.testing.assert_allclose(one, expected[:1], rtol=1e-2, atol=1e-2)


@pytest.mark.gpu
def test_engine_sidecar_from_another_tensorrt_is_refused_before_deserializing(student_model, tmp_path):
    import tensorrt as trt

    engine = _build_engine(student_model.path, tmp_path / "student.engine", student_model.metadata, (1, 1, 8))
    running = tuple(int(v) for v in trt.__version__.split(".")[:3])
    newer = f"{running[0]}.{running[1]}.{running[2] + 1}"
    sidecar = EngineSidecar.from_dict(read_sidecar(engine))
    sidecar.tensorrt_version = newer
    write_engine_sidecar(engine, sidecar)
    with pytest.raises(Cnn2GnnError, match=f"built with TensorRT {newer}"):
        TensorRTRunner(engine)
