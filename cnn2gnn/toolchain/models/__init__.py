"""Model families: the CNN teachers and the CNN2GNN student. Build them with ``create_model``."""
