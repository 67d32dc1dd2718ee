"""The ONNX Runtime backend: ``loader`` (ONNX file -> InferenceSession) and ``runner`` (inference)."""

from cnn2gnn.contracts.lazy_import import ONNXRUNTIME_HINT

INSTALL_HINT = (
    f"{ONNXRUNTIME_HINT}. The CUDA / TensorRT providers come with onnxruntime-gpu (on a Jetson: the "
    "onnxruntime-gpu wheel built for your JetPack); or run a TensorRT engine with the tensorrt backend."
)
