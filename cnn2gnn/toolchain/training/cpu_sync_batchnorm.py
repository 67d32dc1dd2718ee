"""BatchNorm whose batch statistics span every rank's local batch, for CPU (Gloo) runs.

``torch.nn.SyncBatchNorm`` does this on CUDA only. Without it each rank would normalise with the
statistics of its own B/W samples, so a W-process run would train another model than a one-process
run with the same global batch B. Two differentiable all-reduces (the sum, then the centred sum of
squares: the same two-pass form as BatchNorm's own, not sum-of-squares minus mean squared, which
cancels away float32 digits) give every rank the global mean and variance; their backward all-reduces
the gradients, so the DDP-averaged gradient is the one-process gradient.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradient: every rank's loss depends on every rank's
    contribution. (torch.distributed.nn's equivalent is deprecated; the functional collectives lack a backward.)"""

    @staticmethod
    def forward(ctx: object, x: Tensor) -> Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def _sum_over_ranks(x: Tensor) -> Tensor:
    return _SumOverRanks.apply(x)  # type: ignore[no-any-return]


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """Same parameters and buffers as ``nn.BatchNorm2d`` (checkpoints load into either)."""

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / channels], dtype=x.dtype)
        sums = _sum_over_ranks(torch.cat([x.sum(dims), count]))
        n = sums[-1]
        mean = sums[:channels] / n
        centred = x - mean.view(1, -1, *([1] * (x.dim() - 2)))
        var = _sum_over_ranks((centred * centred).sum(dims)) / n
        with torch.no_grad():
            momentum = self.momentum if self.momentum is not None else 0.0
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as BatchNorm2d does
                momentum = 1.0 / float(self.num_batches_tracked)
            unbiased = var * (n / (n - 1)) if n > 1 else var
            self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = (1, -1, *([1] * (x.dim() - 2)))
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_cpu_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every ``BatchNorm2d`` in ``module`` becomes a ``CpuSyncBatchNorm`` holding the very same parameter and
    buffer tensors (an optimizer made before or after sees the same objects)."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, CpuSyncBatchNorm):
        synced = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                  module.track_running_stats)
        synced._parameters, synced._buffers = module._parameters, module._buffers
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        module.add_module(name, convert_cpu_sync_batchnorm(child))
    return module

