"""Export trained checkpoints to ONNX with the metadata the runtime needs."""
