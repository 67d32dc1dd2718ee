"""Plain BatchNorm for a while inside a module that a distributed run made synchronised."""

from __future__ import annotations

from contextlib import contextmanager
from types import MethodType
from typing import Iterator

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextmanager
def unsynchronised_batchnorm(module: nn.Module) -> Iterator[None]:
    """Plain BatchNorm inside ``module`` for a while, where a distributed run made it synchronised.

    Every rank holds the same anchor bank, so the bank's own statistics are already the one-process ones;
    synchronising them would count each anchor once per rank and shift the running variance's n/(n-1).
    """
    synced = [m for m in module.modules()
              if isinstance(m, _BatchNorm) and type(m).forward is not _BatchNorm.forward]
    for m in synced:
        m.forward = MethodType(_BatchNorm.forward, m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in synced:
            del m.forward
