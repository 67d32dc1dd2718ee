"""``cnn2gnn evaluate``: a checkpoint's accuracy on a split, per class and as a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.evaluate import classification_report, predict_logits
from cnn2gnn.toolchain.training.loop import resolve_device


def evaluate_checkpoint(checkpoint: Path, data: str | None, split: str = "test", batch_size: int = 64,
                        device: str = "auto", seed: int | None = None) -> dict[str, Any]:
    payload = load_checkpoint(checkpoint)
    spec = data or payload["dataset"]["spec"]
    # The split seed must be the training run's, or 'test' would overlap the training images.
    split_seed = seed if seed is not None else payload.get("train_config", {}).get("seed", 0)
    dataset = load_dataset(spec, seed=split_seed)
    if dataset.class_names != payload["class_names"]:
        raise Cnn2GnnError(f"{checkpoint} predicts classes {payload['class_names'][:5]}..., {spec} has {dataset.class_names[:5]}...")
    pre = Preprocessing.from_dict(payload["preprocessing"])
    tensors = tensors_from_split(dataset.split(split), pre)
    model = model_from_checkpoint(payload)
    dev = resolve_device(device)
    model.to(dev)
    cfg = payload["model_config"]
    min_last = cfg["k"] + 2 if cfg.get("graph_mode") == "batch" else 1
    if min_last > 1 and batch_size < min_last:
        raise Cnn2GnnError(f"a batch-mode student with k={cfg['k']} needs --batch-size >= {min_last}")
    logits = predict_logits(model, tensors.x, batch_size, dev, min_last)
    report = classification_report(logits.numpy(), tensors.y.numpy(), payload["class_names"])
    return {"checkpoint": str(checkpoint), "kind": payload["kind"], "data": spec, "split": split,
            "batch_size": batch_size, "graph_mode": cfg.get("graph_mode"), **report}


def plot_confusion(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from cnn2gnn.contracts.atomic_io import atomic_path

    cm = np.asarray(report["confusion_matrix"])
    names = report["class_names"]
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(names) + 2),) * 2)
    ax.imshow(cm, cmap="Blues")
    if len(names) <= 30:
        ax.set_xticks(range(len(names)), names, rotation=90)
        ax.set_yticks(range(len(names)), names)
        for i in range(len(names)):
            for j in range(len(names)):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['kind']} on {report['data']} ({report['split']}): acc {report['accuracy']:.4f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
