"""A split decoded from its image files on demand: memory bounded by the batches in flight, not the dataset.

Each image is decoded and preprocessed exactly as the in-memory path does it (``read_image``, the
dataset's channel count, then ``preprocess_image``), so a streamed batch equals the in-memory one.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import read_image, to_channels
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_image
from cnn2gnn.toolchain.data.image_files import FileSplit


class StreamingSplit(Dataset):
    """An :class:`~cnn2gnn.toolchain.data.image_split.ImageSplit` over ``files``; as a torch Dataset its item
    is a whole batch (a tensor of indices in, its images out), so DataLoader workers decode batches."""

    def __init__(self, files: FileSplit, preprocessing: Preprocessing, channels: int) -> None:
        self.paths = files.paths
        self.preprocessing = preprocessing
        self.channels = channels
        self.y = torch.from_numpy(files.labels.copy())
        self.ids = torch.arange(len(files), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def images_at(self, indices: Tensor) -> Tensor:
        out = _batch_tensor((len(indices), *self.preprocessing.input_shape))
        for row, i in enumerate(indices.tolist()):
            image = to_channels([read_image(Path(self.paths[i]))], self.channels)[0]
            out[row] = torch.from_numpy(preprocess_image(image, self.preprocessing))
        return out

    def __getitem__(self, indices: Tensor) -> Tensor | Cnn2GnnError:
        """In a worker: the images, or the user error (see ``image_split._raising_user_errors``)."""
        try:
            return self.images_at(indices)
        except Cnn2GnnError as exc:
            return exc


def _batch_tensor(shape: tuple[int, ...]) -> Tensor:
    """An uninitialised float32 batch; in a DataLoader worker, made in shared memory from the start.

    A worker sends its batch by copying the tensor's storage into shared memory, and torch keeps a weak
    reference to every storage it sent (``shared_cache``, purged only past 128 entries). Had the batch
    been malloc'd, the copy would free its buffer, which glibc had taken from the heap (buffers under
    32 MiB are, once one was freed), while the weak reference keeps the storage's small bookkeeping
    allocation alive beside it; the heap could neither shrink nor reuse the hole, and each worker grew
    by about one batch per batch decoded, up to 128 of them (+264 MiB after 69 batches of 256 64x64
    images). Allocated shared, nothing is copied or freed in the worker; torch's own ``default_collate``
    does the same in workers.
    """
    numel = math.prod(shape)
    if get_worker_info() is None or numel == 0:  # an empty storage cannot be memory-mapped
        return torch.empty(shape, dtype=torch.float32)
    storage = torch.UntypedStorage._new_shared(numel * 4)  # float32: 4 bytes each
    return torch.empty(0, dtype=torch.float32).set_(storage).view(shape)
