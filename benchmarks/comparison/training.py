"""Training every model of the report with the toolchain's own functions and the run's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from cnn2gnn.toolchain.training.checkpoint import Checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig
from comparison.settings import Settings


def train_config(s: Settings, epochs: int, augment: str = "none") -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=s.batch_size, augment=augment, seed=s.seed, device="cpu")


def train_teacher_model(s: Settings, out: Path, progress: bool) -> dict[str, Any]:
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    return train_teacher(s.data, out, train_config(s, s.teacher_epochs, s.teacher_augment), arch=s.teacher_arch,
                         width=s.teacher_width, image_size=s.image_size, progress=progress)


def distill_gnn(s: Settings, out: Path, teacher: Path | None, epochs: int, progress: bool,
                lam: float | None = None, temperature: float | None = None, **student: Any) -> dict[str, Any]:
    """The CNN2GNN student with the run's student settings, ``student`` overriding them; no teacher: CE only."""
    from cnn2gnn.toolchain.distill.distill_student import distill_student

    return distill_student(s.data if teacher is None else None, out, train_config(s, epochs), {**s.student, **student},
                           teacher, lam=s.lam if lam is None else lam,
                           temperature=s.temperature if temperature is None else temperature,
                           cache_dir=out.parent / "teacher-logits", image_size=s.image_size, progress=progress)


def distill_cnn(s: Settings, out: Path, teacher: Path, widths: list[int], progress: bool) -> dict[str, Any]:
    from cnn2gnn.toolchain.distill.distill_cnn_student import distill_cnn_student

    return distill_cnn_student(None, out, train_config(s, s.student_epochs), widths, teacher, lam=s.lam,
                               temperature=s.temperature, cache_dir=out.parent / "teacher-logits",
                               image_size=s.image_size, progress=progress)


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
