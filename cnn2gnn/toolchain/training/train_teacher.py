"""``cnn2gnn train-teacher``: fit a CNN teacher on a dataset."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.data.training_checks import require_trainable
from cnn2gnn.toolchain.models.registry import model_family, model_from_config, teacher_archs
from cnn2gnn.toolchain.training.checkpoint import Checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig, fit


def preprocessing_for(channels: int, image_size: int, mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
                      interpolation: str) -> Preprocessing:
    return Preprocessing(
        height=image_size, width=image_size, channels=channels,
        mean=tuple(mean) if mean else (0.5,) * channels, std=tuple(std) if std else (0.5,) * channels,
        interpolation=interpolation,
    )


def train_teacher(
    data: str,
    out_dir: Path,
    train_cfg: TrainConfig,
    arch: str = "resnet8",
    width: int = 32,
    image_size: int = 32,
    channels: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    interpolation: str = "linear",
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train teacher ``arch`` (a registered teacher family, or one of its ``archs``): its config takes
    the input shape, the class count, ``arch`` and ``base_width`` (``width``)."""
    archs = teacher_archs()
    if arch not in archs:
        raise Cnn2GnnError(f"teacher arch {arch!r} unknown; use one of {' | '.join(archs)}")
    dataset = load_dataset(data, seed=train_cfg.seed)
    pre = preprocessing_for(channels or dataset.channels, image_size, mean, std, interpolation)
    require_trainable(dataset, pre)
    # The config validates its settings before the tensors are made (minutes and gigabytes on a big dataset).
    config = model_family(archs[arch]).config_type(in_channels=pre.channels, height=pre.height, width=pre.width,
                                                   num_classes=dataset.num_classes, arch=arch, base_width=width)
    train = tensors_from_split(dataset.train, pre)
    val = tensors_from_split(dataset.val, pre)
    model_cfg = config.to_dict()
    torch.manual_seed(train_cfg.seed)
    model = model_from_config(model_cfg)
    run_config = {
        "command": "train-teacher", "data": data, "out": str(out_dir), "arch": arch, "width": width,
        "preprocessing": pre.to_dict(), "train": asdict(train_cfg),
    }

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = m(x)
        return F.cross_entropy(logits, y), logits

    checkpoint = Checkpoint(
        kind="teacher", model_config=model_cfg, state_dict={}, preprocessing=pre, class_names=dataset.class_names,
        run_config=run_config, dataset={"spec": data, "fingerprint": dataset.fingerprint()},
    )
    summary = fit(model, train, val, loss_fn, train_cfg, out_dir, checkpoint, resume=resume, progress=progress)
    return {"out_dir": str(out_dir), "best_checkpoint": str(out_dir / "best.pt"), **summary}
