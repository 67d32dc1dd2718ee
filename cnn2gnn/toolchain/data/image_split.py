"""What training reads a split through: labels, sample ids, and preprocessed images served by index.

Two kinds implement it: :class:`~cnn2gnn.toolchain.data.tensors.TensorSplit` (every image decoded
into one tensor) and :class:`~cnn2gnn.toolchain.data.streaming.StreamingSplit` (decoded from its
files on demand). The training loop, validation, teacher logits and anchor banks use only this.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol, Sequence

import torch
from torch import Tensor

from cnn2gnn.contracts.errors import Cnn2GnnError


class ImageSplit(Protocol):
    y: Tensor  # (N,) int64 labels
    ids: Tensor  # (N,) int64: index of each sample in its split (anchors refer to train ids)

    def __len__(self) -> int: ...

    def images_at(self, indices: Tensor) -> Tensor:
        """(len(indices), C, H, W) float32, preprocessed, in the order of ``indices``."""
        ...


def image_batches(split: ImageSplit, batches: Sequence[Tensor], workers: int = 0) -> Iterator[Tensor]:
    """The images of each index batch in turn. A split that is a torch ``Dataset`` (a streamed one) is read
    through a DataLoader with ``workers`` processes decoding the next batches while the model trains on
    this one; the order is kept, so the batches do not depend on ``workers``. In-memory splits are
    gathered here: worker processes could only copy what is already in memory."""
    from torch.utils.data import Dataset

    if workers == 0 or not isinstance(split, Dataset):
        return (split.images_at(b) for b in batches)
    from torch.utils.data import DataLoader

    loader = DataLoader(split, batch_size=None, sampler=batches, num_workers=workers, worker_init_fn=_one_thread)
    return _raising_user_errors(loader)


def split_rows(x: Tensor | ImageSplit, slices: Sequence[slice], workers: int = 0) -> Iterable[Tensor]:
    """``x[s]`` for each slice: rows of a tensor, or a split's images (decoded ahead by workers when streamed)."""
    if isinstance(x, Tensor):
        return (x[s] for s in slices)
    return image_batches(x, [torch.arange(s.start, s.stop) for s in slices], workers)


def _raising_user_errors(loader: Iterable[Tensor | Cnn2GnnError]) -> Iterator[Tensor]:
    """A worker's exception would reach this process wrapped, the worker's traceback pasted into its
    message; a streamed split returns a user error (a corrupt file) as a value, raised here as it was made."""
    for item in loader:
        if isinstance(item, Cnn2GnnError):
            raise item
        yield item
        del item
        _forget_received_batches()


def _forget_received_batches() -> None:
    """Drop torch's weak references to the batches already used. torch records every storage received
    from a worker in ``shared_cache`` and prunes it only past 128 entries; each record, until pruned, pins a small
    heap allocation among the freed buffers of the training step, so the heap could not reuse them and
    this process grew by ~0.5 MiB a batch (32x32, batch 256: +64 MiB over 137 batches). Guarded: it is
    torch's internal cache, and a torch without it simply skips this."""
    from torch.multiprocessing import reductions

    cache = getattr(reductions, "shared_cache", None)
    if cache is not None and hasattr(cache, "free_dead_references") and hasattr(cache, "lock"):
        with cache.lock:
            cache.free_dead_references()


def _one_thread(worker_id: int) -> None:
    """Each worker decodes one image at a time and ``workers`` of them already fill the cores: thread
    pools inside each (torch's, OpenCV's) would only oversubscribe them."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
