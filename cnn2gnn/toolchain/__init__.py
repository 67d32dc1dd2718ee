"""Training side of cnn2gnn: data, models, graph learning, distillation and training loops (needs torch)."""
