"""The torch-free runtime: load an exported model (ONNX or TensorRT engine) and classify images.

Needs numpy, OpenCV and the backend's own library only (onnxruntime, or TensorRT + cuda-python /
pycuda on a Jetson). Backend libraries are imported when a model is loaded, not here.
"""

from cnn2gnn.runtime.backends.registry import load_backend, registered_backends
from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.classifier import Classifier, Prediction
from cnn2gnn.runtime.model_info import read_model_metadata

__all__ = ["Classifier", "Prediction", "Runner", "load_backend", "read_model_metadata", "registered_backends"]
