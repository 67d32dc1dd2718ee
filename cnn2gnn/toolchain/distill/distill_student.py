"""``cnn2gnn distill``: train the CNN2GNN student against a frozen teacher (or labels only)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cnn2gnn._io import sha256_file
from cnn2gnn.errors import Cnn2GnnError
from cnn2gnn.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.distill.loss import DistillationLoss
from cnn2gnn.toolchain.distill.teacher_cache import cached_teacher_logits, teacher_cache_key
from cnn2gnn.toolchain.graph.anchors import select_anchors
from cnn2gnn.toolchain.models.registry import create_model
from cnn2gnn.toolchain.models.student import CNN2GNNStudent, StudentConfig
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.evaluate import predict_logits
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, resolve_device, write_resolved_config
from cnn2gnn.toolchain.training.train_teacher import preprocessing_for


def distill_student(
    data: str | None,
    out_dir: Path,
    train_cfg: TrainConfig,
    student: dict[str, Any],
    teacher: Path | None,
    lam: float = 0.7,
    temperature: float = 4.0,
    cache_dir: Path | None = None,
    image_size: int = 32,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """``student`` holds StudentConfig fields other than the shapes (k, num_anchors, graph_mode, ...).

    With a teacher, data and preprocessing default to the teacher's, so teacher and student see the
    same tensors; without one (``teacher=None``) the student is trained on labels alone (ablation).
    """
    teacher_payload = load_checkpoint(teacher, kind="teacher") if teacher is not None else None
    if data is None:
        if teacher_payload is None:
            raise Cnn2GnnError("--data is required with --no-teacher")
        data = teacher_payload["dataset"]["spec"]
    dataset = load_dataset(data, seed=train_cfg.seed)
    if teacher_payload is not None:
        pre = Preprocessing.from_dict(teacher_payload["preprocessing"])
        if teacher_payload["class_names"] != dataset.class_names:
            raise Cnn2GnnError(
                f"teacher {teacher} was trained on classes {teacher_payload['class_names'][:5]}..., "
                f"but {data} has {dataset.class_names[:5]}...; distil on the teacher's dataset"
            )
    else:
        pre = preprocessing_for(dataset.channels, image_size, None, None, "linear")
    train = tensors_from_split(dataset.train, pre)
    val = tensors_from_split(dataset.val, pre)

    cfg = StudentConfig(in_channels=pre.channels, height=pre.height, width=pre.width,
                        num_classes=dataset.num_classes, **student)
    anchor_ids = select_anchors(dataset.train.labels, cfg.num_anchors, cfg.anchor_selection, train_cfg.seed)
    cfg.num_anchors = len(anchor_ids)  # a training split smaller than M uses all of it
    model_cfg = cfg.to_dict()
    torch.manual_seed(train_cfg.seed)
    model = create_model(model_cfg)
    assert isinstance(model, CNN2GNNStudent)
    ids = torch.from_numpy(anchor_ids)
    model.set_anchors(train.x[ids], ids, train.y[ids])

    teacher_logits: Tensor | None = None
    cache_status = "off"
    teacher_sha = ""
    if teacher_payload is not None:
        teacher_sha = sha256_file(teacher)  # type: ignore[arg-type]
        if train_cfg.augment != "none":
            raise Cnn2GnnError(
                "student augmentation is not supported with a teacher (teacher logits are computed once per image); "
                "use --augment none"
            )
        device = resolve_device(train_cfg.device)
        teacher_model = model_from_checkpoint(teacher_payload).to(device)

        def compute() -> np.ndarray:
            return predict_logits(teacher_model, train.x, train_cfg.eval_batch_size, device).numpy()

        key = teacher_cache_key(dataset.fingerprint(), pre.to_dict(), teacher_sha, "train")
        logits_np, cache_status = cached_teacher_logits(cache_dir, key, compute)
        teacher_logits = torch.from_numpy(logits_np)
        del teacher_model

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
    summary = fit(model, train, val, loss_fn, train_cfg, out_dir, extra, resume=resume, progress=progress,
                  min_batch=min_batch)
    return {"out_dir": str(out_dir), "best_checkpoint": str(out_dir / "best.pt"), "teacher_cache": cache_status,
            **summary}
