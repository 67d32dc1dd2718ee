"""The small-CNN student: the usual knowledge-distillation baseline, sized to the GNN student's cost.

A few 3x3 stride-2 convolutions (BatchNorm, ReLU) and a linear classifier on the flattened last map:
no pooling layers, so the FLOPs per image follow directly from the widths and a caller can pick widths
that match another model's cost. Build it with ``create_model("cnn-student", ...)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError


def _halved(size: int, times: int) -> int:
    for _ in range(times):
        size = (size + 1) // 2  # a 3x3 convolution with stride 2 and padding 1
    return size


@dataclass
class CNNStudentConfig:
    in_channels: int
    height: int
    width: int
    num_classes: int
    widths: list[int] = field(default_factory=lambda: [8, 16, 16])
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        if not 1 <= len(self.widths) <= 4 or min(self.widths) < 1:
            raise Cnn2GnnError(f"a CNN student takes 1 to 4 conv widths, each >= 1; got {self.widths}")
        if not 0.0 <= self.dropout < 1.0:
            raise Cnn2GnnError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def feature_size(self) -> tuple[int, int]:
        return _halved(self.height, len(self.widths)), _halved(self.width, len(self.widths))

    def to_dict(self) -> dict[str, Any]:
        return {"family": "cnn-student", **asdict(self)}


class CNNStudent(nn.Module):
    def __init__(self, cfg: CNNStudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for c_out in cfg.widths:
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        h, w = cfg.feature_size
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c_in * h * w, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.convs(x).flatten(1)))
