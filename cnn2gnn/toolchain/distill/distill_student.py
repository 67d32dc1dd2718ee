"""``cnn2gnn distill``: train the CNN2GNN student against a frozen teacher (or labels only)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.image_split import ImageSplit
from cnn2gnn.toolchain.distill.contrastive_loss import supervised_contrastive_loss
from cnn2gnn.toolchain.distill.distillation_data import distillation_data
from cnn2gnn.toolchain.distill.graph_mixing import fit_graph_mixing
from cnn2gnn.toolchain.distill.loss import DistillationLoss
from cnn2gnn.toolchain.distill.shared_anchors import agreed_anchor_ids, anchor_bank_sha256_per_rank
from cnn2gnn.toolchain.graph.anchors import kmeans_medoids
from cnn2gnn.toolchain.models.registry import model_from_config
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.training.checkpoint import Checkpoint, load_checkpoint, model_from_checkpoint, save_checkpoint
from cnn2gnn.toolchain.training.distributed import broadcast_object, join_world
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, require_unfinished_run, resolve_device

# What the loss was made of: a resumed distillation keeps its teacher and its loss weights (run-config key: option).
DISTILLATION_INVARIANTS = {"teacher_sha256": "--teacher", "lambda": "--lambda", "temperature": "--temperature"}


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
    refresh_every: int = 5,
    class_names: Path | None = None,
) -> dict[str, Any]:
    """``student`` holds StudentConfig fields other than the shapes (k, num_anchors, graph_mode, ...).

    With a teacher, data and preprocessing default to the teacher's, so teacher and student see the
    same tensors; without one (``teacher=None``) the student is trained on labels alone (ablation).
    With ``anchor_selection="kmeans"`` the bank is replaced every ``refresh_every`` epochs by
    class-balanced k-means medoids in the student's current learned space. ``class_names``: a names file
    replacing the dataset's own names (default: the teacher's names when the data is the teacher's).
    """
    if teacher is None and student.get("label_targets") == "teacher":
        raise Cnn2GnnError(
            "label_targets (--label-targets) 'teacher' needs a teacher's soft labels; give --teacher, or use "
            "--label-targets onehot for a labels-only student"
        )
    if teacher is None:  # the default targets are the teacher's soft labels; without one, the labels themselves
        student = {"label_targets": "onehot", **student}
    if refresh_every < 1:
        raise Cnn2GnnError(f"refresh_every (epochs between k-means anchor refreshes) must be at least 1, "
                           f"got {refresh_every}")
    # Built (so validated) before the data and teacher logits are made; without a teacher only CE is left.
    loss = DistillationLoss(lam if teacher is not None else 0.0, temperature)
    if resume:
        require_unfinished_run(out_dir, train_cfg.epochs)
    inputs = distillation_data(data, train_cfg, teacher, cache_dir, image_size, class_names)
    data, dataset, pre, train, val = inputs.data, inputs.dataset, inputs.preprocessing, inputs.train, inputs.val
    teacher_logits, teacher_sha, cache_status = inputs.teacher_logits, inputs.teacher_sha256, inputs.cache_status

    cfg = StudentConfig(in_channels=pre.channels, height=pre.height, width=pre.width,
                        num_classes=dataset.num_classes, **student)
    world, device = join_world(resolve_device(train_cfg.device))
    anchor_ids = agreed_anchor_ids(dataset.train.labels, cfg.num_anchors, cfg.anchor_selection, train_cfg.seed, world)
    # like calibrate asked for more images than there are: warn (rank 0), use all
    if len(anchor_ids) < cfg.num_anchors and world.is_main:
        print(f"warning: --anchors {cfg.num_anchors} is more than the {len(anchor_ids)} training images of {data}: "
              f"using M={len(anchor_ids)} anchors (all of them)", file=sys.stderr)
    cfg = replace(cfg, num_anchors=len(anchor_ids))  # re-validated: M must still be at least k+2
    model_cfg = cfg.to_dict()
    torch.manual_seed(train_cfg.seed)
    model = model_from_config(model_cfg)
    assert isinstance(model, CNN2GNNStudent)
    ids = torch.from_numpy(anchor_ids)
    # What the anchors carry into the messages: the teacher's soft labels, or (None) their one-hot labels.
    soft_labels = torch.softmax(teacher_logits.float(), dim=1) if cfg.label_targets == "teacher" else None
    model.set_anchors(train.images_at(ids), ids, train.y[ids], None if soft_labels is None else soft_labels[ids])
    anchor_digests = anchor_bank_sha256_per_rank(model.state_dict(), world)

    teacher_targets = inputs.teacher_targets(device)

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor, sample_ids: Tensor) -> tuple[Tensor, Tensor]:
        logits = m(x, sample_ids)
        targets = teacher_targets(x, sample_ids)
        total = loss(logits, y, targets)
        module = getattr(m, "module", m)  # m may be the DDP wrapper; the training forward left the own path
        if cfg.own_loss > 0:
            total = total + cfg.own_loss * loss(module.own_logits, y, targets)
        if cfg.contrastive > 0:
            total = total + cfg.contrastive * supervised_contrastive_loss(module.own_hidden, y,
                                                                         cfg.contrastive_temperature)
        return total, logits

    run_config = {
        "command": "distill", "data": data, "class_names_file": str(class_names) if class_names else None,
        "out": str(out_dir), "teacher": str(teacher) if teacher else None,
        "teacher_sha256": teacher_sha, "lambda": loss.lam, "temperature": temperature, "student": model_cfg,
        "preprocessing": pre.to_dict(), "train": asdict(train_cfg), "teacher_cache": cache_status,
        "anchor_bank_sha256_per_rank": anchor_digests,
    }
    checkpoint = Checkpoint(
        kind="student", model_config=model_cfg, state_dict={}, preprocessing=pre, class_names=dataset.class_names,
        run_config=run_config, dataset={"spec": data, "fingerprint": dataset.fingerprint()},
    )

    def refresh_anchors(m: nn.Module, epoch: int) -> None:
        """k-means bank: class-balanced medoids in the current learned space, every ``refresh_every`` epochs."""
        if epoch == 0 or epoch % refresh_every:
            return
        assert isinstance(m, CNN2GNNStudent)
        m.eval()
        device = m.anchor_images.device
        medoids = None
        if world.is_main:  # rank 0 chooses, every rank takes its bank (as with the first one)
            with torch.no_grad():
                z = torch.cat([m.projection(m.features(train.images_at(chunk).to(device))).cpu()
                               for chunk in torch.arange(len(train)).split(512)])
            medoids = kmeans_medoids(z, dataset.train.labels, cfg.num_anchors, train_cfg.seed + epoch)
        new_ids = torch.from_numpy(np.asarray(broadcast_object(medoids, world), dtype=np.int64))
        m.set_anchors(train.images_at(new_ids).to(device), new_ids.to(device), train.y[new_ids].to(device),
                      None if soft_labels is None else soft_labels[new_ids].to(device))

    hook = refresh_anchors if cfg.anchor_selection == "kmeans" and cfg.num_anchors < len(train) else None
    summary = fit(model, train, val, loss_fn, train_cfg, out_dir, checkpoint, resume=resume, progress=progress,
                  min_batch=cfg.graph.min_batch, on_epoch_start=hook, resume_invariants=DISTILLATION_INVARIANTS)
    if cfg.fit_mixing and cfg.learn_alpha and cfg.graph_mode == "anchor" and world.is_main:
        summary["graph_mixing"] = _mixing_fitted_on_validation(out_dir / "best.pt", val, train_cfg.seed, device)
    return {"out_dir": str(out_dir), "best_checkpoint": str(out_dir / "best.pt"), "teacher_cache": cache_status,
            **summary}


def _mixing_fitted_on_validation(best: Path, val: ImageSplit, seed: int, device: torch.device) -> dict[str, Any]:
    """Refit best.pt's alpha on validation (graph_mixing) and record the fit in it and in metrics.json."""
    checkpoint = load_checkpoint(best)
    if "graph_mixing" in checkpoint.run_config:  # a resumed run whose best.pt was fitted already: keep that record
        return checkpoint.run_config["graph_mixing"]
    model = model_from_checkpoint(checkpoint).to(device)
    assert isinstance(model, CNN2GNNStudent)
    record = fit_graph_mixing(model, val, seed).to_dict()
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint(best, replace(checkpoint, state_dict=weights,
                                  run_config={**checkpoint.run_config, "graph_mixing": record}))
    metrics = best.parent / "metrics.json"
    atomic_write_json(metrics, {**json.loads(metrics.read_text()), "graph_mixing": record})
    return record
