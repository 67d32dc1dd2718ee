from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.models import registry
from cnn2gnn.toolchain.models.registry import (
    create_model,
    list_models,
    model_family,
    model_from_config,
    register_model,
    teacher_arch_help,
    teacher_archs,
)
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.models.teacher import ResNetTeacher, TeacherConfig, blocks_per_stage


@dataclass
class ToyConfig:
    in_channels: int
    height: int
    width: int
    num_classes: int
    arch: str = "toy"
    base_width: int = 4


class ToyTeacher(nn.Module):
    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fc = nn.Linear(cfg.in_channels * cfg.height * cfg.width, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.fixture
def toy_family(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))  # the registration ends with the test
    register_model("toy", role="teacher", module=__name__, model_class="ToyTeacher", config_class="ToyConfig",
                   summary="a throwaway family")
    return "toy"


def test_config_dicts_round_trip_to_their_modules() -> None:
    teacher_cfg = TeacherConfig(1, 8, 8, 3, arch="resnet8", base_width=4)
    teacher = model_from_config(teacher_cfg.to_dict())
    assert isinstance(teacher, ResNetTeacher) and teacher.cfg == teacher_cfg
    student_cfg = StudentConfig(1, 6, 6, 3, k=2, num_anchors=8, hidden=8)
    student = create_model("cnn2gnn-student", in_channels=1, height=6, width=6, num_classes=3, k=2, num_anchors=8,
                           hidden=8)
    assert isinstance(student, CNN2GNNStudent) and student.cfg == student_cfg


def test_builtin_families_are_listed_by_role() -> None:
    assert list_models() == ["resnet", "cnn2gnn-student", "cnn-student"]
    assert list_models("teacher") == ["resnet"] and list_models("student") == ["cnn2gnn-student", "cnn-student"]
    assert [blocks_per_stage(a) for a in model_family("resnet").archs] == [1, 2, 3, 5, 9]


def test_unknown_family_lists_the_registered_ones() -> None:
    with pytest.raises(Cnn2GnnError, match="'vgg' unknown; registered: resnet, cnn2gnn-student, cnn-student"):
        model_from_config({"family": "vgg"})
    with pytest.raises(Cnn2GnnError, match="lacks the field 'family'"):
        model_from_config({"k": 3})


def test_a_bad_config_field_names_the_family() -> None:
    with pytest.raises(Cnn2GnnError, match="model family 'resnet': bad config.*depth"):
        create_model("resnet", in_channels=1, height=8, width=8, num_classes=3, depth=8)


def test_a_registered_family_is_built_and_offered_as_a_teacher(toy_family: str) -> None:
    model = create_model(toy_family, in_channels=1, height=4, width=4, num_classes=2)
    assert isinstance(model, ToyTeacher) and model(torch.zeros(3, 1, 4, 4)).shape == (3, 2)
    assert teacher_archs()["toy"] == "toy" and teacher_archs()["resnet20"] == "resnet"
    assert "toy (a throwaway family)" in teacher_arch_help() and "resnet8 | resnet14" in teacher_arch_help()


def test_a_name_registered_twice_is_a_bug(toy_family: str) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_model(toy_family, role="teacher", module=__name__, model_class="ToyTeacher", config_class="ToyConfig")


def test_train_teacher_help_lists_every_registered_teacher_without_importing_torch() -> None:
    # A fresh interpreter: the help is made when the command module is imported, after the registration.
    script = textwrap.dedent("""
        import sys
        from typer.testing import CliRunner
        from cnn2gnn.toolchain.models.registry import register_model
        register_model("toy", role="teacher", module="tests.toolchain.models.test_registry", model_class="ToyTeacher",
                       config_class="ToyConfig", summary="a throwaway family")
        from cnn2gnn.cli import app
        result = CliRunner().invoke(app, ["train-teacher", "--help"], terminal_width=200)
        print(result.exit_code, "torch" in sys.modules)
        print(" ".join(result.output.replace("\u2502", " ").split()))  # rich wraps the help inside a box
    """)
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    status, help_text = proc.stdout.splitlines()[:2]
    assert status == "0 False"
    assert "resnet8 | resnet14 | resnet20 | resnet32 | resnet56" in help_text and "toy (a throwaway family)" in help_text
