"""Training loops, checkpoints and evaluation shared by teacher training and distillation."""
