"""The student's node features: image -> feature vector, the space the DSGL graph is learned in.

- ``none``: the flattened image;
- ``patch``: one light patch embedding (a ``patch_size`` convolution with stride ``patch_size``);
- ``conv``: learned blocks of 3x3 stride-2 convolution, BatchNorm and ReLU, one per ``stem_widths``
  entry (the small-CNN baseline's blocks), so the graph is built in a learned space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:
    from cnn2gnn.toolchain.models.student_config import StudentConfig

STEMS = ("none", "patch", "conv")


def _halved(size: int, times: int) -> int:
    for _ in range(times):
        size = (size + 1) // 2  # a 3x3 convolution with stride 2 and padding 1
    return size


def _conv_blocks(in_channels: int, widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = in_channels
    for c_out in widths:
        layers += [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        c_in = c_out
    blocks = nn.Sequential(*layers)
    for m in blocks.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return blocks


class NodeFeatures(nn.Module):
    """Image -> node feature vector (``dim`` wide) by the stem ``cfg.stem`` names."""

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.stem: nn.Module
        if cfg.stem == "conv":
            self.stem = _conv_blocks(cfg.in_channels, cfg.stem_widths)
            n = len(cfg.stem_widths)
            self.dim = cfg.stem_widths[-1] * _halved(cfg.height, n) * _halved(cfg.width, n)
        elif cfg.stem == "patch":
            self.stem = nn.Sequential(
                nn.Conv2d(cfg.in_channels, cfg.stem_dim, cfg.patch_size, stride=cfg.patch_size), nn.ReLU()
            )
            self.dim = cfg.stem_dim * (cfg.height // cfg.patch_size) * (cfg.width // cfg.patch_size)
        else:
            self.stem = nn.Identity()
            self.dim = cfg.in_channels * cfg.height * cfg.width

    def forward(self, x: Tensor) -> Tensor:
        return self.stem(x).flatten(1)
