from __future__ import annotations

import numpy as np
import torch

from cnn2gnn.toolchain.training.evaluate import batch_slices, predict_logits


def _sizes(slices: list[slice]) -> list[int]:
    return [s.stop - s.start for s in slices]


def test_batch_slices_cover_everything_once() -> None:
    assert _sizes(batch_slices(10, 4)) == [4, 4, 2]
    assert _sizes(batch_slices(10, 4, min_last=3)) == [4, 6]  # the short tail joins the batch before it
    assert _sizes(batch_slices(10, 5, min_last=3)) == [5, 5]
    assert _sizes(batch_slices(2, 4, min_last=3)) == [2]  # a lone batch stays (the model says it is too small)
    assert batch_slices(0, 4) == []
    covered = np.concatenate([np.arange(s.start, s.stop) for s in batch_slices(103, 8, min_last=7)])
    assert covered.tolist() == list(range(103))


def test_predict_logits_is_eval_mode_and_batch_size_free() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Dropout(0.9), torch.nn.Linear(8, 3))
    model.train()
    x = torch.randn(11, 1, 4, 4)
    a = predict_logits(model, x, 1)
    b = predict_logits(model, x, 64)
    assert not model.training
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, model(x).detach())
