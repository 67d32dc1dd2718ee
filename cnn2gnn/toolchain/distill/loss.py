"""L = (1 - lambda) CE(y, s) + lambda T^2 KL(softmax(t/T) || softmax(s/T))."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from cnn2gnn.contracts.setting_ranges import require_float_in

# Only catches typos: distillation temperatures in use are 1..20.
MAX_TEMPERATURE = 1000.0


class DistillationLoss(nn.Module):
    def __init__(self, lam: float = 0.7, temperature: float = 4.0) -> None:
        super().__init__()
        require_float_in("lambda, the distillation weight (--lambda)", lam, 0.0, 1.0)
        require_float_in("distillation temperature (--temperature)", temperature, 0.0, MAX_TEMPERATURE,
                         low_open=True)
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
