"""Baselines the CNN2GNN student is measured against: a small distilled CNN and kNN on the anchor bank."""
