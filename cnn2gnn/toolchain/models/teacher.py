"""The CNN teacher family: ResNet-style networks, depth and width configurable, 8 px to 224 px inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import MAX_IMAGE_SIDE
from cnn2gnn.contracts.setting_ranges import require_float_in, require_int_in
from cnn2gnn.toolchain.models.registry import model_family

MAX_CLASSES = 100_000
MAX_BASE_WIDTH = 1024  # the last stage has 4x as many channels


def blocks_per_stage(arch: str) -> int:
    """CIFAR-style depth 6n+2 (``resnet20``: n = 3 residual blocks in each of three stages)."""
    return (int(arch.removeprefix("resnet")) - 2) // 6


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
        archs = model_family("resnet").archs  # the registration lists the depths on offer
        if self.arch not in archs:
            raise Cnn2GnnError(f"teacher arch {self.arch!r} unknown; use one of {sorted(archs)}")
        if min(self.height, self.width) < 8 or max(self.height, self.width) > MAX_IMAGE_SIDE:
            raise Cnn2GnnError(
                f"teacher input (--image-size) must be 8..{MAX_IMAGE_SIDE} pixels per side, "
                f"got {self.height}x{self.width}"
            )
        require_int_in("in_channels (--channels)", self.in_channels, 1, 3)
        require_int_in("num_classes", self.num_classes, 2, MAX_CLASSES)
        require_int_in("base_width (--width)", self.base_width, 1, MAX_BASE_WIDTH)
        require_float_in("dropout", self.dropout, 0.0, 1.0, high_open=True)

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
            for b in range(blocks_per_stage(cfg.arch)):
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
