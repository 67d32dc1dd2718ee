"""The CNN teacher family: ResNet-style networks, depth and width configurable, 8 px to 224 px inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError

# CIFAR-style depth 6n+2: name -> residual blocks per stage (three stages)
RESNET_DEPTHS = {"resnet8": 1, "resnet14": 2, "resnet20": 3, "resnet32": 5, "resnet56": 9}


@dataclass
class TeacherConfig:
    in_channels: int
    height: int
    width: int
    num_classes: int
    arch: str = "resnet8"
    base_width: int = 32
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.arch not in RESNET_DEPTHS:
            raise Cnn2GnnError(f"teacher arch {self.arch!r} unknown; use one of {sorted(RESNET_DEPTHS)}")
        if min(self.height, self.width) < 8:
            raise Cnn2GnnError(f"teacher input must be at least 8x8 pixels, got {self.height}x{self.width}")

    def to_dict(self) -> dict[str, Any]:
        return {"family": "resnet", **asdict(self)}


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetTeacher(nn.Module):
    def __init__(self, cfg: TeacherConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.base_width
        stem: list[nn.Module] = []
        if min(cfg.height, cfg.width) >= 96:
            # Large inputs: an ImageNet-style downsampling stem keeps the cost per image bounded.
            stem += [nn.Conv2d(cfg.in_channels, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                     nn.MaxPool2d(3, 2, 1)]
        else:
            stem += [nn.Conv2d(cfg.in_channels, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem)
        blocks: list[nn.Module] = []
        c_in = w
        for stage, c_out in enumerate((w, 2 * w, 4 * w)):
            for b in range(RESNET_DEPTHS[cfg.arch]):
                blocks.append(BasicBlock(c_in, c_out, 2 if (b == 0 and stage > 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c_in, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(self.dropout(self.pool(x).flatten(1)))
