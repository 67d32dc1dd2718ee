"""The ``cnn2gnn`` commands, one module per pipeline stage; :mod:`cnn2gnn.cli` registers them on the app.

Every command imports its heavy dependencies (torch, onnx, TensorRT) inside its body, so ``cnn2gnn --help``
and each ``--help`` start instantly and work where those are not installed.
"""
