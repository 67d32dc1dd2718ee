"""Distil the teacher into the small-CNN student with the CNN2GNN student's own loss and data."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from cnn2gnn.toolchain.distill.distillation_data import distillation_data
from cnn2gnn.toolchain.distill.loss import DistillationLoss
from cnn2gnn.toolchain.models.cnn_student import CNNStudentConfig
from cnn2gnn.toolchain.models.registry import model_from_config
from cnn2gnn.toolchain.training.checkpoint import Checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, resolve_device


def distill_cnn_student(
    data: str | None,
    out_dir: Path,
    train_cfg: TrainConfig,
    widths: Sequence[int],
    teacher: Path | None,
    lam: float = 0.7,
    temperature: float = 4.0,
    cache_dir: Path | None = None,
    image_size: int = 32,
    dropout: float = 0.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Like ``distill_student`` (same tensors, teacher logits, loss and loop), for a ``cnn-student``."""
    inputs = distillation_data(data, train_cfg, teacher, cache_dir, image_size)
    pre, dataset = inputs.preprocessing, inputs.dataset
    cfg = CNNStudentConfig(in_channels=pre.channels, height=pre.height, width=pre.width,
                           num_classes=dataset.num_classes, widths=list(widths), dropout=dropout)
    model_cfg = cfg.to_dict()
    torch.manual_seed(train_cfg.seed)
    model = model_from_config(model_cfg)

    teacher_logits = inputs.teacher_logits
    loss = DistillationLoss(lam if teacher_logits is not None else 0.0, temperature)
    teacher_targets = inputs.teacher_targets(resolve_device(train_cfg.device))

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor, sample_ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = m(x)
        return loss(logits, y, teacher_targets(x, sample_ids)), logits

    run_config = {
        "command": "distill-cnn-student", "data": inputs.data, "out": str(out_dir),
        "teacher": str(teacher) if teacher else None, "teacher_sha256": inputs.teacher_sha256, "lambda": loss.lam,
        "temperature": temperature, "student": model_cfg, "preprocessing": pre.to_dict(), "train": asdict(train_cfg),
        "teacher_cache": inputs.cache_status,
    }
    checkpoint = Checkpoint(
        kind="student", model_config=model_cfg, state_dict={}, preprocessing=pre, class_names=dataset.class_names,
        run_config=run_config, dataset={"spec": inputs.data, "fingerprint": dataset.fingerprint()},
    )
    summary = fit(model, inputs.train, inputs.val, loss_fn, train_cfg, out_dir, checkpoint, progress=progress)
    return {"out_dir": str(out_dir), "best_checkpoint": str(out_dir / "best.pt"), "teacher_cache": inputs.cache_status,
            **summary}
