"""``create_model(config)``: a saved model config dict -> the module it describes."""

from __future__ import annotations

from typing import Any

from torch import nn

from cnn2gnn.contracts.errors import Cnn2GnnError


def create_model(config: dict[str, Any]) -> nn.Module:
    cfg = dict(config)
    family = cfg.pop("family", None)
    if family == "resnet":
        from cnn2gnn.toolchain.models.teacher import ResNetTeacher, TeacherConfig

        return ResNetTeacher(TeacherConfig(**cfg))
    if family == "cnn2gnn-student":
        from cnn2gnn.toolchain.models.student import CNN2GNNStudent, StudentConfig

        return CNN2GNNStudent(StudentConfig(**cfg))
    if family == "torchvision":
        from cnn2gnn.toolchain.models.torchvision_teacher import create_torchvision_teacher

        return create_torchvision_teacher(**cfg)
    if family == "cnn-student":
        from cnn2gnn.toolchain.baselines.cnn_student import CNNStudent, CNNStudentConfig

        return CNNStudent(CNNStudentConfig(**cfg))
    raise Cnn2GnnError(
        f"model family {family!r} unknown; expected resnet, cnn2gnn-student or torchvision, or cnn-student "
        "(the small-CNN baseline)"
    )
