"""``cnn2gnn train-teacher``: fit a CNN teacher on a dataset."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.models.teacher import TeacherConfig
from cnn2gnn.toolchain.models.registry import create_model
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, write_resolved_config


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
    dataset = load_dataset(data, seed=train_cfg.seed)
    pre = preprocessing_for(channels or dataset.channels, image_size, mean, std, interpolation)
    train = tensors_from_split(dataset.train, pre)
    val = tensors_from_split(dataset.val, pre)
    model_cfg = TeacherConfig(in_channels=pre.channels, height=pre.height, width=pre.width,
                              num_classes=dataset.num_classes, arch=arch, base_width=width).to_dict()
    torch.manual_seed(train_cfg.seed)
    model = create_model(model_cfg)
    run_config = {
        "command": "train-teacher", "data": data, "out": str(out_dir), "arch": arch, "width": width,
        "preprocessing": pre.to_dict(), "train": asdict(train_cfg),
    }
    write_resolved_config(out_dir, run_config)

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = m(x)
        return F.cross_entropy(logits, y), logits

    extra = {
        "kind": "teacher", "model_config": model_cfg, "preprocessing": pre.to_dict(),
        "class_names": dataset.class_names, "run_config": run_config,
        "dataset": {"spec": data, "fingerprint": dataset.fingerprint()},
    }
    summary = fit(model, train, val, loss_fn, train_cfg, out_dir, extra, resume=resume, progress=progress)
    return {"out_dir": str(out_dir), "best_checkpoint": str(out_dir / "best.pt"), **summary}
