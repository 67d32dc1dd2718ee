"""Optional teachers from torchvision (``--arch torchvision:NAME``), weights only from a local file."""

from __future__ import annotations

from typing import Any

from torch import nn

from cnn2gnn.contracts.errors import Cnn2GnnError


def create_torchvision_teacher(name: str, num_classes: int, in_channels: int, **_: Any) -> nn.Module:
    try:
        import torchvision.models as tvm
    except Exception as exc:  # torchvision may be absent or fail to load beside this torch
        raise Cnn2GnnError(
            f"teacher torchvision:{name} needs a working torchvision ({exc}); it is optional — "
            "use a built-in teacher (--arch resnet14) or install a torchvision matching your torch"
        ) from exc
    if not hasattr(tvm, name):
        raise Cnn2GnnError(f"torchvision has no model {name!r}")
    if in_channels != 3:
        raise Cnn2GnnError(f"torchvision:{name} expects 3-channel input; set --channels 3")
    # weights=None: never download; pretrained weights come from --init-weights FILE instead.
    return getattr(tvm, name)(weights=None, num_classes=num_classes)
