"""The TensorRT backend: ``loader`` (engine file -> deserialized engine, checked against its sidecar) and
``runner`` (one execution context, pinned buffers, async copies), over ``cuda_memory``'s CUDA library."""
