"""Serving configs for an exported model or a built engine: what a model server needs besides the model.

- :mod:`~cnn2gnn.export.serving.served_model`: a model file as a server sees it (format, names, batch limits).
- :mod:`~cnn2gnn.export.serving.triton`: a Triton Inference Server model repository entry.
- :mod:`~cnn2gnn.export.serving.triton_readme`: the README in that entry (the client's preprocessing).
- :mod:`~cnn2gnn.export.serving.nvinfer_normalisation`: our mean/std as nvinfer's scale and offsets, error measured.
- :mod:`~cnn2gnn.export.serving.deepstream`: a DeepStream ``nvinfer`` classifier config.

Torch-free: the metadata comes from :mod:`cnn2gnn.runtime.model_info` (embedded ONNX copy or sidecar).
"""
