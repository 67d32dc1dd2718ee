"""Baselines the CNN2GNN student is measured against: kNN on its anchor bank (the small distilled CNN is
the ``cnn-student`` model family, distilled by ``cnn2gnn.toolchain.distill.distill_cnn_student``)."""
