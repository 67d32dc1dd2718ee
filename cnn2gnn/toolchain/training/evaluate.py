"""A torch model's logits on a preprocessed split, batch by batch (the report on them is
:mod:`cnn2gnn.contracts.classification_report`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.toolchain.data.image_split import ImageSplit, split_rows


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
def predict_logits(model: nn.Module, x: Tensor | ImageSplit, batch_size: int, device: torch.device | str = "cpu",
                   min_last: int = 1, progress: str = "", workers: int = 0, out: Tensor | None = None) -> Tensor:
    """``model``'s logits for ``x`` (a tensor, or a split's images) in batches, on the CPU; ``progress`` names a
    progress bar (none if empty). ``workers`` decode a streamed split's next batches; ``out`` (e.g. a memory-mapped
    cache) receives the rows as they come, so the logits of a large split need not fit in memory."""
    model.eval()
    slices = batch_slices(len(x), batch_size, min_last)
    rows = progress_bar(zip(slices, split_rows(x, slices, workers)), total=len(slices), desc=progress, unit="batch",
                        enabled=bool(progress))
    parts = []
    for s, batch in rows:
        logits = model(batch.to(device)).float().cpu()
        if out is None:
            parts.append(logits)
        else:
            out[s] = logits
    if out is not None:
        return out
    return torch.cat(parts) if parts else torch.zeros(0)
