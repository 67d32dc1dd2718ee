"""A torch model's logits on a preprocessed split, batch by batch (the report on them is
:mod:`cnn2gnn.contracts.classification_report`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.progress import progress_bar


def batch_slices(n: int, batch_size: int, min_last: int = 1) -> list[slice]:
    """Consecutive slices of ``batch_size``; a tail shorter than ``min_last`` joins the previous batch
    (a batch-mode graph needs ``GraphSpec.min_batch`` samples in every batch)."""
    bounds = list(range(0, n, batch_size)) + [n]
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    if len(slices) > 1 and slices[-1].stop - slices[-1].start < min_last:
        last = slices.pop()
        slices[-1] = slice(slices[-1].start, last.stop)
    return slices


@torch.no_grad()
def predict_logits(model: nn.Module, x: Tensor, batch_size: int, device: torch.device | str = "cpu",
                   min_last: int = 1, progress: str = "") -> Tensor:
    """``model``'s logits for ``x`` in batches, on the CPU; ``progress`` names a progress bar (none if empty)."""
    model.eval()
    slices = progress_bar(batch_slices(len(x), batch_size, min_last), desc=progress, unit="batch",
                          enabled=bool(progress))
    outs = [model(x[s].to(device)).float().cpu() for s in slices]
    return torch.cat(outs) if outs else torch.zeros(0)
