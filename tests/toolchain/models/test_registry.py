from __future__ import annotations

import importlib.util

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.models.registry import create_model
from cnn2gnn.toolchain.models.student import CNN2GNNStudent, StudentConfig
from cnn2gnn.toolchain.models.teacher import ResNetTeacher, TeacherConfig


def test_config_dicts_round_trip_to_their_modules() -> None:
    teacher_cfg = TeacherConfig(1, 8, 8, 3, arch="resnet8", base_width=4)
    teacher = create_model(teacher_cfg.to_dict())
    assert isinstance(teacher, ResNetTeacher) and teacher.cfg == teacher_cfg
    student_cfg = StudentConfig(1, 6, 6, 3, k=2, num_anchors=8, hidden=8)
    student = create_model(student_cfg.to_dict())
    assert isinstance(student, CNN2GNNStudent) and student.cfg == student_cfg


def test_unknown_family_lists_the_valid_ones() -> None:
    with pytest.raises(Cnn2GnnError, match="resnet, cnn2gnn-student or torchvision"):
        create_model({"family": "vgg"})


def test_torchvision_teacher_is_optional() -> None:
    config = {"family": "torchvision", "name": "resnet18", "num_classes": 5, "in_channels": 3}
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(Cnn2GnnError, match="torchvision"):
            create_model(config)
    else:
        assert list(create_model(config).parameters())[-1].shape == (5,)  # the classifier bias
    with pytest.raises(Cnn2GnnError):
        create_model({**config, "in_channels": 1})
