from __future__ import annotations

import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.models.teacher import ResNetTeacher, TeacherConfig


@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 16), (3, 96)])
def test_logit_shape_for_small_and_large_inputs(channels: int, size: int) -> None:
    model = ResNetTeacher(TeacherConfig(in_channels=channels, height=size, width=size, num_classes=7, arch="resnet8",
                                        base_width=4)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, channels, size, size)).shape == (2, 7)
    # inputs of 96 px and more get the downsampling stem (stride 2 conv + max pool), smaller ones do not
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in model.stem) == (size >= 96)


def test_depth_follows_the_arch_name() -> None:
    def blocks(arch: str) -> int:
        return len(ResNetTeacher(TeacherConfig(1, 8, 8, 3, arch=arch, base_width=4)).blocks)

    assert [blocks(a) for a in ("resnet8", "resnet14", "resnet20", "resnet56")] == [3, 6, 9, 27]


def test_bad_config_is_a_user_error() -> None:
    with pytest.raises(Cnn2GnnError, match="resnet14"):
        TeacherConfig(1, 32, 32, 10, arch="resnet15")
    with pytest.raises(Cnn2GnnError, match="at least 8x8"):
        TeacherConfig(1, 4, 32, 10)
