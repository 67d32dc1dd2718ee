"""cnn2gnn: distil a CNN teacher into a two-layer GNN student and deploy it with TensorRT."""

__version__ = "0.1.0"
