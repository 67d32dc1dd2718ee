"""Export trained checkpoints to ONNX with the metadata the runtime needs.

- :mod:`~cnn2gnn.export.onnx_from_checkpoint`: ``cnn2gnn export`` (checkpoint -> checked ONNX + sidecar).
- :mod:`~cnn2gnn.export.anchor_student`: the anchor-mode student with its anchor side as constants.
- :mod:`~cnn2gnn.export.parity`: ONNX Runtime vs PyTorch on real test images.
- :mod:`~cnn2gnn.export.onnx_metadata`: ``read_onnx_metadata`` / ``write_onnx_with_metadata``, shared with calibration.
- :mod:`~cnn2gnn.export.tensorrt_compat` (+ the op list in :mod:`~cnn2gnn.export.tensorrt_ops`): ``cnn2gnn check``.

Nothing here is imported at package import time: torch and onnx load only when a function runs.
"""
