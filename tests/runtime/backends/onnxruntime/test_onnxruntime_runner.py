import sys

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.backends.onnxruntime.loader import check_providers, default_providers
from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
from tests._onnx_files import save_test_onnx
from tests.runtime._onnx_models import linear_logits, write_linear_onnx


def test_logits_match_the_model_computed_in_numpy(student_model, digits):
    x = preprocess_images(digits.test.images[:7], student_model.metadata.preprocessing)
    with OnnxRuntimeRunner(student_model.path) as backend:
        assert backend.providers == ["CPUExecutionProvider"]
        for batch in (x[:1], x):  # dynamic batch
            logits = backend.infer(batch)
            assert logits.dtype == np.float32 and logits.shape == (len(batch), 10)
            np.testing.assert_allclose(logits, linear_logits(batch, student_model.weight, student_model.bias),
                                       rtol=1e-5, atol=1e-5)


def test_load_backend_picks_onnxruntime_from_the_suffix(student_model):
    with load_backend(student_model.path, threads=1) as backend:
        assert isinstance(backend, OnnxRuntimeRunner)
        assert backend.metadata.to_dict() == student_model.metadata.to_dict()
        assert backend.max_batch is None


def test_wrong_input_shape_is_a_user_error(student_model):
    with OnnxRuntimeRunner(student_model.path) as backend:
        with pytest.raises(Cnn2GnnError, match=r"\(N, 1, 8, 8\)"):
            backend.infer(np.zeros((2, 3, 8, 8), dtype=np.float32))
        with pytest.raises(Cnn2GnnError):
            backend.infer(np.zeros((1, 8, 8), dtype=np.float32))


def test_metadata_that_does_not_match_the_graph_is_refused_at_load(tmp_path):
    meta = ModelMetadata(kind="student", class_names=["a", "b"], preprocessing=Preprocessing.default_for(1, 8))
    w, b = np.zeros((2, 3 * 16 * 16), np.float32), np.zeros(2, np.float32)
    path = write_linear_onnx(tmp_path / "m.onnx", w, b, meta, input_chw=(3, 16, 16))
    with pytest.raises(Cnn2GnnError, match="do not belong together"):
        OnnxRuntimeRunner(path)


def test_fixed_batch_export_is_reported_as_max_batch(tmp_path):
    meta = ModelMetadata(kind="student", class_names=["a", "b"], preprocessing=Preprocessing.default_for(1, 2))
    path = write_linear_onnx(tmp_path / "m.onnx", np.ones((2, 4), np.float32), np.zeros(2, np.float32), meta,
                             batch_dim=4)
    with OnnxRuntimeRunner(path) as backend:
        assert backend.max_batch == 4
        assert backend.infer(np.ones((4, 1, 2, 2), np.float32)).shape == (4, 2)
        with pytest.raises(Cnn2GnnError, match="fixed batch of 4"):
            backend.infer(np.ones((3, 1, 2, 2), np.float32))


def test_default_providers_prefer_tensorrt_then_cuda_and_keep_cpu():
    assert default_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert default_providers(["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_unavailable_provider_is_named_with_the_package_that_has_it(student_model):
    with pytest.raises(Cnn2GnnError, match="onnxruntime-gpu"):
        check_providers(["CUDAExecutionProvider"], ["CPUExecutionProvider"])
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(Cnn2GnnError, match="CUDAExecutionProvider"):
        OnnxRuntimeRunner(student_model.path, providers=["CUDAExecutionProvider"])


def test_threads_are_validated(student_model):
    with pytest.raises(Cnn2GnnError, match="threads"):
        OnnxRuntimeRunner(student_model.path, threads=0)


def test_missing_onnxruntime_says_what_to_install(student_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(Cnn2GnnError, match="pip install onnxruntime"):
        OnnxRuntimeRunner(student_model.path)


def test_missing_model_file(tmp_path):
    with pytest.raises(Cnn2GnnError, match="does not exist"):
        load_backend(tmp_path / "nope.onnx")


def _model_whose_activations_cannot_fit(path):
    """images (N, 1, 8, 8) -> an Expand to (N, 64, 2**40) -> sum -> Gemm: 2**48 bytes per image, more than any
    address space, so ONNX Runtime's arena refuses it at once (nothing is ever touched)."""
    from onnx import TensorProto, helper, numpy_helper

    meta = ModelMetadata(kind="student", class_names=["a", "b"], preprocessing=Preprocessing.default_for(1, 8))
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["images"], ["flat"], axis=1),
         helper.make_node("Unsqueeze", ["flat", "axis"], ["column"]),
         helper.make_node("Expand", ["column", "shape"], ["huge"]),
         helper.make_node("ReduceSum", ["huge", "axis"], ["summed"], keepdims=0),
         helper.make_node("Gemm", ["summed", "W", "b"], ["logits"], transB=1)],
        "huge_activations", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array([2], np.int64), "axis"),
                     numpy_helper.from_array(np.array([1, 1, 2**40], np.int64), "shape"),
                     numpy_helper.from_array(np.zeros((2, 64), np.float32), "W"),
                     numpy_helper.from_array(np.zeros(2, np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save_test_onnx(model, path, meta)


def test_a_batch_that_does_not_fit_in_memory_is_a_user_error(tmp_path):
    with OnnxRuntimeRunner(_model_whose_activations_cannot_fit(tmp_path / "m.onnx"), threads=1) as backend:
        batch = np.zeros((3, 1, 8, 8), dtype=np.float32)
        for call in (backend.infer, backend.infer_outputs):
            with pytest.raises(Cnn2GnnError, match=r"ran out of memory on a batch of 3 images; use a smaller batch"):
                call(batch)
