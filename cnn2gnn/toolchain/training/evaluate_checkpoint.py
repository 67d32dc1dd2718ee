"""``cnn2gnn evaluate``: a checkpoint's accuracy on a split, per class and as a confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.classification_report import classification_report
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.dataset import RawSplit
from cnn2gnn.toolchain.data.spec import class_names_for
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.training.checkpoint import Checkpoint, load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.evaluate import predict_logits
from cnn2gnn.toolchain.training.loop import resolve_device


@dataclass(frozen=True)
class CheckpointOnSplit:
    """A checkpoint's model, in eval mode on its device, and the split it is evaluated on (raw images, RGB)."""

    checkpoint: Checkpoint
    model: nn.Module
    device: torch.device
    data: str  # the dataset spec
    split: str
    images: RawSplit


def checkpoint_on_split(checkpoint: Checkpoint, data: str | None, split: str = "test", device: str = "auto",
                        seed: int | None = None, class_names: Path | None = None) -> CheckpointOnSplit:
    """``class_names``: a names file replacing the dataset's own names (without ``data``: the checkpoint's names)."""
    spec = data or checkpoint.dataset_spec
    # The split seed must be the training run's, or 'test' would overlap the training images.
    split_seed = seed if seed is not None else checkpoint.train_seed
    dataset = load_dataset(spec, seed=split_seed,
                           class_names=class_names_for(class_names, data, checkpoint.class_names))
    difference = class_list_difference(checkpoint.class_names, dataset.class_names)
    if difference is not None:
        raise Cnn2GnnError(
            f"{checkpoint.source} and {spec} have different classes (checkpoint vs data: {difference}); evaluate on "
            "the dataset the checkpoint was trained on, with its --class-names file if it was trained with one"
        )
    images = dataset.split(split)
    dev = resolve_device(device)
    return CheckpointOnSplit(checkpoint, model_from_checkpoint(checkpoint).to(dev), dev, spec, split, images)


def checkpoint_report(evaluated: CheckpointOnSplit, batch_size: int = 64) -> dict[str, Any]:
    """The classification report of the checkpoint's model on its split, in batches of ``batch_size``."""
    ckpt = evaluated.checkpoint
    graph = ckpt.graph
    min_last = graph.min_batch if graph else 1
    if graph and batch_size < min_last:
        raise Cnn2GnnError(f"a batch-mode student with k={graph.k} needs batch size >= {min_last}")
    tensors = tensors_from_split(evaluated.images, ckpt.preprocessing)
    logits = predict_logits(evaluated.model, tensors.x, batch_size, evaluated.device, min_last)
    report = classification_report(logits.numpy(), tensors.y.numpy(), ckpt.class_names)
    return {"checkpoint": ckpt.source, "kind": ckpt.kind, "data": evaluated.data, "split": evaluated.split,
            "batch_size": batch_size, "graph_mode": graph.mode if graph else None, **report}


def evaluate_checkpoint(checkpoint: Path, data: str | None, split: str = "test", batch_size: int = 64,
                        device: str = "auto", seed: int | None = None,
                        class_names: Path | None = None) -> dict[str, Any]:
    """``class_names``: a names file replacing the dataset's own names (without ``data``: the checkpoint's names)."""
    evaluated = checkpoint_on_split(load_checkpoint(checkpoint), data, split, device, seed, class_names)
    return checkpoint_report(evaluated, batch_size)
