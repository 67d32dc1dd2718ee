"""Training every model of the report with the toolchain's own functions and the run's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from cnn2gnn.toolchain.training.checkpoint import Checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig
from comparison.settings import Settings


def train_config(s: Settings, epochs: int, augment: str, seed: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=s.batch_size, augment=augment, seed=seed, device="cpu")


def train_teacher_model(s: Settings, out: Path, seed: int, progress: bool) -> dict[str, Any]:
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    return train_teacher(s.data, out, train_config(s, s.teacher_epochs, s.teacher_augment, seed),
                         arch=s.teacher_arch, width=s.teacher_width, image_size=s.image_size, progress=progress)


def distill_gnn(s: Settings, out: Path, teacher: Path | None, epochs: int, seed: int, progress: bool,
                lam: float | None = None, temperature: float | None = None, **changes: Any) -> dict[str, Any]:
    """The CNN2GNN student: StudentConfig's defaults, the preset's overrides, then ``changes``; no teacher:
    labels only (its data is the run's, at the run's image size; with a teacher, the teacher's)."""
    from cnn2gnn.toolchain.distill.distill_student import distill_student
    from comparison.defaults import student_config

    assert s.lam is not None and s.temperature is not None and s.student_augment is not None  # set by preset()
    return distill_student(s.data if teacher is None else None, out,
                           train_config(s, epochs, s.student_augment, seed), student_config(s.student, **changes),
                           teacher, lam=s.lam if lam is None else lam,
                           temperature=s.temperature if temperature is None else temperature,
                           cache_dir=out.parent / "teacher-logits", image_size=s.image_size, progress=progress)


def distill_cnn(s: Settings, out: Path, teacher: Path, widths: list[int], seed: int, progress: bool) -> dict[str, Any]:
    """A ``cnn-student`` (3x3 stride-2 conv blocks + a linear head) with the GNN students' loss, data and
    augmentation: the small CNN of equal FLOPs, and the same-stem ablation (widths = the stem's)."""
    from cnn2gnn.toolchain.distill.distill_cnn_student import distill_cnn_student

    assert s.lam is not None and s.temperature is not None and s.student_augment is not None  # set by preset()
    return distill_cnn_student(None, out, train_config(s, s.baseline_epochs, s.student_augment, seed), widths,
                               teacher, lam=s.lam, temperature=s.temperature,
                               cache_dir=out.parent / "teacher-logits", image_size=s.image_size, progress=progress)


def deployed_module(payload: "Checkpoint") -> nn.Module | None:
    """The module that runs at inference: an anchor-mode student with its anchor side as constants;
    None for a batch-mode student (it has no single-image form)."""
    from cnn2gnn.export.anchor_student import AnchorStudentForExport
    from cnn2gnn.toolchain.models.student import CNN2GNNStudent
    from cnn2gnn.toolchain.training.checkpoint import model_from_checkpoint

    model = model_from_checkpoint(payload)
    if isinstance(model, CNN2GNNStudent):
        return AnchorStudentForExport(model) if model.cfg.graph_mode == "anchor" else None
    return model
