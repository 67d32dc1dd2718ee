"""The torch-free runtime: load an exported model (ONNX or TensorRT engine) and classify images.

Needs numpy, OpenCV and the backend's own library only (onnxruntime, or TensorRT + cuda-python /
pycuda on a Jetson). Backend libraries are imported when a model is loaded, not here.
"""

from cnn2gnn.runtime.backend import BACKENDS, Backend, load_backend
from cnn2gnn.runtime.classifier import Classifier, Prediction
from cnn2gnn.runtime.model_info import read_model_metadata

__all__ = ["BACKENDS", "Backend", "Classifier", "Prediction", "load_backend", "read_model_metadata"]
