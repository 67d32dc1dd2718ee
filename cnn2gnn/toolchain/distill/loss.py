"""L = (1 - lambda) CE(y, s) + lambda T^2 KL(softmax(t/T) || softmax(s/T))."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError


class DistillationLoss(nn.Module):
    def __init__(self, lam: float = 0.7, temperature: float = 4.0) -> None:
        super().__init__()
        if not 0.0 <= lam <= 1.0:
            raise Cnn2GnnError(f"--lambda must be in [0, 1], got {lam}")
        if temperature <= 0:
            raise Cnn2GnnError(f"--temperature must be > 0, got {temperature}")
        self.lam = lam
        self.temperature = temperature

    def forward(self, student_logits: Tensor, labels: Tensor, teacher_logits: Tensor | None) -> Tensor:
        ce = F.cross_entropy(student_logits, labels)
        if teacher_logits is None or self.lam == 0.0:
            return ce
        t = self.temperature
        kl = F.kl_div(
            F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
            reduction="batchmean", log_target=True,
        )
        return (1.0 - self.lam) * ce + self.lam * t * t * kl
