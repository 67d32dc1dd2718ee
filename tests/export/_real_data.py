"""A checkpoint's own digits test split, preprocessed as the checkpoint says (cached per checkpoint)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=4)
def checkpoint_test_split(checkpoint: Path) -> Any:
    from cnn2gnn.toolchain.data import load_dataset
    from cnn2gnn.toolchain.data.tensors import tensors_from_split
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    payload = load_checkpoint(checkpoint)
    dataset = load_dataset(payload.dataset["spec"], seed=payload.train_seed)
    return tensors_from_split(dataset.split("test"), payload.preprocessing)
