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
    with pytest.raises(Cnn2GnnError, match=r"8\.\.4096 pixels per side, got 4x32"):
        TeacherConfig(1, 4, 32, 10)


@pytest.mark.parametrize(("kw", "message"), [
    ({"base_width": 0}, r"base_width \(--width\) must be an integer in 1\.\.1024, got 0"),
    ({"height": 100000, "width": 100000}, r"teacher input \(--image-size\) must be 8\.\.4096 pixels per side"),
    ({"dropout": 1.5}, r"dropout must be a finite number in \[0, 1\), got 1\.5"),
    ({"dropout": float("nan")}, r"dropout must be a finite number in \[0, 1\), got nan"),
    ({"num_classes": 1}, r"num_classes must be an integer in 2\.\.100000, got 1"),
    ({"in_channels": 0}, r"in_channels \(--channels\) must be an integer in 1\.\.3, got 0"),
])
def test_out_of_range_settings_name_the_setting_value_and_range(kw: dict, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        TeacherConfig(**{"in_channels": 1, "height": 32, "width": 32, "num_classes": 10, **kw})
