"""``cnn2gnn evaluate``: a checkpoint's accuracy on a split, per class and as a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.classification_report import classification_report
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.spec import class_names_for
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.evaluate import predict_logits
from cnn2gnn.toolchain.training.loop import resolve_device


def evaluate_checkpoint(checkpoint: Path, data: str | None, split: str = "test", batch_size: int = 64,
                        device: str = "auto", seed: int | None = None,
                        class_names: Path | None = None) -> dict[str, Any]:
    """``class_names``: a names file replacing the dataset's own names (without ``data``: the checkpoint's names)."""
    ckpt = load_checkpoint(checkpoint)
    spec = data or ckpt.dataset_spec
    # The split seed must be the training run's, or 'test' would overlap the training images.
    split_seed = seed if seed is not None else ckpt.train_seed
    dataset = load_dataset(spec, seed=split_seed, class_names=class_names_for(class_names, data, ckpt.class_names))
    difference = class_list_difference(ckpt.class_names, dataset.class_names)
    if difference is not None:
        raise Cnn2GnnError(
            f"{checkpoint} and {spec} have different classes (checkpoint vs data: {difference}); evaluate on the "
            "dataset the checkpoint was trained on, with its --class-names file if it was trained with one"
        )
    tensors = tensors_from_split(dataset.split(split), ckpt.preprocessing)
    model = model_from_checkpoint(ckpt)
    dev = resolve_device(device)
    model.to(dev)
    graph = ckpt.graph
    min_last = graph.min_batch if graph else 1
    if graph and batch_size < min_last:
        raise Cnn2GnnError(f"a batch-mode student with k={graph.k} needs batch size >= {min_last}")
    logits = predict_logits(model, tensors.x, batch_size, dev, min_last)
    report = classification_report(logits.numpy(), tensors.y.numpy(), ckpt.class_names)
    return {"checkpoint": str(checkpoint), "kind": ckpt.kind, "data": spec, "split": split,
            "batch_size": batch_size, "graph_mode": graph.mode if graph else None, **report}
