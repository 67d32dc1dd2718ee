"""Runtime backends, Polygraphy-style: per backend a subpackage with a loader (artifact -> session or
engine) and a runner (inference), all behind :class:`~cnn2gnn.runtime.backends.runner.Runner`.

The built-in backends are registered here, one :func:`register_backend` call each; a new backend is a
new subpackage plus one call. Factories are "module:attr" strings: nothing below is imported until a
model is loaded.
"""

from cnn2gnn.runtime.backends import onnxruntime as _onnxruntime
from cnn2gnn.runtime.backends.registry import BackendSpec, register_backend
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import TENSORRT_INSTALL_HINT

register_backend(BackendSpec(
    name="onnxruntime",
    suffixes=(".onnx",),
    factory="cnn2gnn.runtime.backends.onnxruntime.runner:OnnxRuntimeRunner",
    options={
        "threads": "ONNX Runtime intra-op threads (default: OMP_NUM_THREADS when set, else one per physical core)",
        "providers": "ONNX Runtime execution providers, best first (default: TensorRT, CUDA when present, then CPU)",
    },
    install_hint=_onnxruntime.INSTALL_HINT,
))
register_backend(BackendSpec(
    name="tensorrt",
    suffixes=(".engine", ".plan", ".trt"),
    factory="cnn2gnn.runtime.backends.tensorrt.runner:TensorRTRunner",
    options={"memory": "the CudaMemory to allocate from (default: a new one through cuda-python or pycuda)"},
    install_hint=TENSORRT_INSTALL_HINT,
))
