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
from cnn2gnn.toolchain.data.training_data import training_data
from cnn2gnn.toolchain.models.registry import model_family, model_from_config, teacher_archs
from cnn2gnn.toolchain.training.checkpoint import Checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, require_unfinished_run
from cnn2gnn.toolchain.training.world import world_from_env


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
    class_names: Path | None = None,
) -> dict[str, Any]:
    """Train teacher ``arch`` (a registered teacher family, or one of its ``archs``): its config takes
    the input shape, the class count, ``arch`` and ``base_width`` (``width``). ``class_names``: a names file
    whose names replace the dataset's own (they are the checkpoint's)."""
    archs = teacher_archs()
    if arch not in archs:
        raise Cnn2GnnError(f"teacher arch {arch!r} unknown; use one of {' | '.join(archs)}")
    if resume:
        require_unfinished_run(out_dir, train_cfg.epochs)
    inputs = training_data(data, train_cfg.seed,
                           lambda found: preprocessing_for(channels or found, image_size, mean, std, interpolation),
                           train_cfg.stream, train_cfg.workers, class_names, log=world_from_env().is_main)
    dataset, pre = inputs.dataset, inputs.preprocessing
    # The config validates its settings before the tensors are made (minutes and gigabytes on a big dataset).
    config = model_family(archs[arch]).config_type(in_channels=pre.channels, height=pre.height, width=pre.width,
                                                   num_classes=dataset.num_classes, arch=arch, base_width=width)
    train, val = inputs.split("train"), inputs.split("val")
    model_cfg = config.to_dict()
    torch.manual_seed(train_cfg.seed)
    model = model_from_config(model_cfg)
    run_config = {
        "command": "train-teacher", "data": data, "class_names_file": str(class_names) if class_names else None,
        "out": str(out_dir), "arch": arch, "width": width,
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
