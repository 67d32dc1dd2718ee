"""FLOPs per image, counted by torch's FlopCounterMode, and a small CNN sized to a FLOP target.

FlopCounterMode counts matrix products and convolutions (2 FLOPs per multiply-add); element-wise
ops, BatchNorm, TopK and gathers are not counted. A GNN student is counted as exported: its anchor
side (anchor projections and messages) is a precomputed constant, so only the per-image work counts.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def flops_per_image(module: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> float:
    """Counted FLOPs of ``module`` on a zero batch of ``batch`` images, divided by ``batch``.

    A model whose per-image cost depends on the batch (the batch-mode student) is counted at the
    batch it runs with; everything else at batch 1.
    """
    from torch.utils.flop_counter import FlopCounterMode

    module = module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.zeros(batch, *input_shape))
    return counter.get_total_flops() / batch


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def constant_count(module: nn.Module) -> int:
    """Values stored besides the weights (buffers: anchor constants, BatchNorm statistics)."""
    return sum(b.numel() for b in module.buffers() if b.is_floating_point())


def cnn_widths_matching(target_flops: float, in_channels: int, height: int, width: int, num_classes: int,
                        max_base: int = 256) -> tuple[list[int], float]:
    """Widths ``[c, 2c, 2c]`` of a three-conv ``cnn-student`` whose FLOPs per image are closest (in ratio)
    to ``target_flops``; returns (widths, their FLOPs)."""
    from cnn2gnn.toolchain.models.registry import create_model

    best: tuple[float, list[int], float] | None = None
    for c in range(1, max_base + 1):
        widths = [c, 2 * c, 2 * c]
        model = create_model("cnn-student", in_channels=in_channels, height=height, width=width,
                             num_classes=num_classes, widths=widths)
        flops = flops_per_image(model, (in_channels, height, width))
        gap = abs(math.log(flops / target_flops))
        if best is None or gap < best[0]:
            best = (gap, widths, flops)
        if flops > target_flops:
            break
    assert best is not None
    return best[1], best[2]
