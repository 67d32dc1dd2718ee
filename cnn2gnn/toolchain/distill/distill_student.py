"""``cnn2gnn distill``: train the CNN2GNN student against a frozen teacher (or labels only)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnn2gnn.errors import Cnn2GnnError
from cnn2gnn.toolchain.distill.distillation_data import distillation_data
from cnn2gnn.toolchain.distill.loss import DistillationLoss
from cnn2gnn.toolchain.graph.anchors import kmeans_medoids, select_anchors
from cnn2gnn.toolchain.models.registry import create_model
from cnn2gnn.toolchain.models.student import CNN2GNNStudent, StudentConfig
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, resolve_device, write_resolved_config


def distill_student(
    data: str | None,
    out_dir: Path,
    train_cfg: TrainConfig,
    student: dict[str, Any],
    teacher: Path | None,
    lam: float = 0.7,
    temperature: float = 4.0,
    refresh_every: int = 5,
    cache_dir: Path | None = None,
    image_size: int = 32,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``student`` holds StudentConfig fields other than the shapes (k, num_anchors, graph_mode, ...).

    With a teacher, data and preprocessing default to the teacher's, so teacher and student see the
    same tensors; without one (``teacher=None``) the student is trained on labels alone (ablation).
    """
    inputs = distillation_data(data, train_cfg, teacher, cache_dir, image_size)
    data, dataset, pre, train, val = inputs.data, inputs.dataset, inputs.preprocessing, inputs.train, inputs.val
    teacher_logits, teacher_sha, cache_status = inputs.teacher_logits, inputs.teacher_sha256, inputs.cache_status

    cfg = StudentConfig(in_channels=pre.channels, height=pre.height, width=pre.width,
                        num_classes=dataset.num_classes, **student)
    anchor_ids = select_anchors(dataset.train.labels, cfg.num_anchors, cfg.anchor_selection, train_cfg.seed)
    cfg.num_anchors = len(anchor_ids)  # a training split smaller than M uses all of it
    model_cfg = cfg.to_dict()
    torch.manual_seed(train_cfg.seed)
    model = create_model(model_cfg)
    assert isinstance(model, CNN2GNNStudent)
    ids = torch.from_numpy(anchor_ids)
    targets = None
    if cfg.label_targets == "teacher":
        if teacher_logits is None:
            raise Cnn2GnnError("--label-targets teacher needs a teacher; use onehot for a labels-only student")
        targets = torch.softmax(teacher_logits[ids].float(), dim=1)
    model.set_anchors(train.x[ids], ids, train.y[ids], targets)

    loss = DistillationLoss(lam if teacher_logits is not None else 0.0, temperature)
    logits_on_device = teacher_logits.to(resolve_device(train_cfg.device)) if teacher_logits is not None else None

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor, sample_ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = m(x, sample_ids)
        t = logits_on_device[sample_ids] if logits_on_device is not None else None
        return loss(logits, y, t), logits

    run_config = {
        "command": "distill", "data": data, "out": str(out_dir), "teacher": str(teacher) if teacher else None,
        "teacher_sha256": teacher_sha, "lambda": loss.lam, "temperature": temperature, "student": model_cfg,
        "preprocessing": pre.to_dict(), "train": asdict(train_cfg), "teacher_cache": cache_status,
    }
    write_resolved_config(out_dir, run_config)
    extra = {
        "kind": "student", "model_config": model_cfg, "preprocessing": pre.to_dict(),
        "class_names": dataset.class_names, "run_config": run_config,
        "dataset": {"spec": data, "fingerprint": dataset.fingerprint()},
    }
    min_batch = cfg.k + 2 if cfg.graph_mode == "batch" else 1

    def refresh_anchors(m: nn.Module, epoch: int) -> None:
        """k-means bank: class-balanced medoids in the current learned space, every ``refresh_every`` epochs."""
        if epoch == 0 or epoch % refresh_every:
            return
        assert isinstance(m, CNN2GNNStudent)
        m.eval()
        device = m.anchor_images.device
        with torch.no_grad():
            z = torch.cat([m.projection(m.features(train.x[i : i + 512].to(device))).cpu() for i in range(0, len(train), 512)])
        new_ids = torch.from_numpy(kmeans_medoids(z, dataset.train.labels, cfg.num_anchors, train_cfg.seed + epoch))
        new_targets = None if targets_all is None else targets_all[new_ids]
        m.set_anchors(train.x[new_ids].to(device), new_ids.to(device), train.y[new_ids].to(device),
                      None if new_targets is None else new_targets.to(device))

    targets_all = torch.softmax(teacher_logits.float(), dim=1) if cfg.label_targets == "teacher" else None
    hook = refresh_anchors if cfg.anchor_selection == "kmeans" and cfg.num_anchors < len(train) else None
    summary = fit(model, train, val, loss_fn, train_cfg, out_dir, extra, resume=resume, progress=progress,
                  min_batch=min_batch, on_epoch_start=hook)
    return {"out_dir": str(out_dir), "best_checkpoint": str(out_dir / "best.pt"), "teacher_cache": cache_status,
            **summary}
