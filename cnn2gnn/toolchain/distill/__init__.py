"""Response-based distillation: the loss and the teacher-logit cache."""
