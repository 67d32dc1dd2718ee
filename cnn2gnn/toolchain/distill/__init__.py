"""Response-based distillation: the loss, the teacher-logit cache, and the runs that distil each student."""
