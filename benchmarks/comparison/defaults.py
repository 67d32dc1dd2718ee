"""What the report trains when told nothing: the toolchain's own defaults, read at run time.

The report must measure whatever configuration the toolchain ships, so it copies no default: the
student's settings are StudentConfig's field defaults (a preset or a sweep changes only what it
names), the loss weights are ``distill_student``'s argument defaults, and the students' augmentation
is TrainConfig's. When the defaults change, the next report measures the new ones.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields
from typing import Any

# StudentConfig fields that come from the data and preprocessing, not from a choice of student.
SHAPE_FIELDS = ("in_channels", "height", "width", "num_classes")


def student_defaults() -> dict[str, Any]:
    from cnn2gnn.toolchain.models.student_config import StudentConfig

    out: dict[str, Any] = {}
    for f in fields(StudentConfig):
        if f.name in SHAPE_FIELDS:
            continue
        out[f.name] = f.default_factory() if f.default is MISSING else f.default
    return out


def student_config(overrides: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """StudentConfig's defaults, then a preset's ``overrides``, then one run's ``changes``."""
    return {**student_defaults(), **overrides, **changes}


def distill_loss_defaults() -> dict[str, float]:
    from cnn2gnn.toolchain.distill.distill_student import distill_student

    params = inspect.signature(distill_student).parameters
    return {"lam": params["lam"].default, "temperature": params["temperature"].default}


def student_augment_default() -> str:
    from cnn2gnn.toolchain.training.loop import TrainConfig

    return TrainConfig().augment
