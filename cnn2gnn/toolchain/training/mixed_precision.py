"""``--amp``: autocast the training step to bfloat16 or float16 on CUDA (float16 with a gradient scaler).

Refused on the CPU rather than ignored: CPU autocast exists, but for these convolution and GCN sizes it
is slower than float32 and changes the numbers, so asking for it there is almost surely a mistake.
Validation stays in float32, so the val metrics (and the best checkpoint) are comparable across modes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ContextManager

import torch
from torch import Tensor

from cnn2gnn.contracts.errors import Cnn2GnnError

AMP_DTYPES: dict[str, torch.dtype | None] = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class MixedPrecision:
    dtype: torch.dtype | None
    scaler: Any  # torch.amp.GradScaler; disabled (a pass-through) unless float16

    def autocast(self) -> ContextManager[Any]:
        return torch.autocast("cuda", dtype=self.dtype) if self.dtype is not None else contextlib.nullcontext()

    def backward_and_step(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def mixed_precision(mode: str, device: torch.device) -> MixedPrecision:
    if mode not in AMP_DTYPES:
        raise Cnn2GnnError(f"--amp {mode!r} unknown; use one of {' | '.join(AMP_DTYPES)}")
    if mode != "off" and device.type != "cuda":
        raise Cnn2GnnError(f"--amp {mode} needs a CUDA device (training runs on {device.type}); use --amp off on "
                           "the CPU")
    return MixedPrecision(AMP_DTYPES[mode], torch.amp.GradScaler("cuda", enabled=mode == "fp16"))
