"""Shared fixtures: small real checkpoints trained once per test session on the embedded digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._students import PLAIN_STUDENT

# Tiny models on 2 shared cores: torch's thread pool costs more than it gains (fixtures build 10x
# faster on one thread). Set before torch is imported, and inherited by CLI subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests need TensorRT and an NVIDIA GPU; skip them with a reason where either is absent."""
    from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available

    # Not a bare `import tensorrt`: the type stubs make that import succeed without TensorRT.
    if tensorrt_available():
        return
    skip = pytest.mark.skip(reason="needs TensorRT and an NVIDIA GPU (not installed here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_teacher_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet8 teacher (width 8, 16x16 input) trained for 2 epochs: real weights, seconds to make."""
    from cnn2gnn.toolchain.training.loop import TrainConfig
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    out = tmp_path_factory.mktemp("teacher")
    train_teacher("digits", out, TrainConfig(epochs=2, batch_size=128, augment="none"), arch="resnet8", width=8,
                  image_size=16, progress=False)
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_student_ckpt(tiny_teacher_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An anchor-mode student (M=64 anchors, k=5) distilled from the tiny teacher for 3 epochs."""
    from cnn2gnn.toolchain.distill.distill_student import distill_student
    from cnn2gnn.toolchain.training.loop import TrainConfig

    out = tmp_path_factory.mktemp("student")
    distill_student(None, out, TrainConfig(epochs=3, batch_size=128), {"k": 5, "num_anchors": 64, "hidden": 32,
                    "proj_dim": 16, **PLAIN_STUDENT}, tiny_teacher_ckpt, cache_dir=None, progress=False)
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_conv_label_student_ckpt(tiny_teacher_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An anchor-mode student with a conv stem whose anchors carry the teacher's soft labels (both the
    label embedding and the label-propagation term), distilled for 2 epochs."""
    from cnn2gnn.toolchain.distill.distill_student import distill_student
    from cnn2gnn.toolchain.training.loop import TrainConfig

    out = tmp_path_factory.mktemp("conv_label_student")
    distill_student(None, out, TrainConfig(epochs=2, batch_size=128),
                    {"k": 5, "num_anchors": 64, "hidden": 32, "proj_dim": 16, "stem": "conv", "stem_widths": [4, 8, 8],
                     "label_mode": "both", "label_targets": "teacher", "anchor_features": "live"}, tiny_teacher_ckpt,
                    cache_dir=None, progress=False)
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_lp_student_ckpt(tiny_teacher_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An anchor-mode student whose anchors carry the teacher's soft labels into a label-propagation term
    (label_mode lp: what enrolment needs), distilled for 2 epochs."""
    from cnn2gnn.toolchain.distill.distill_student import distill_student
    from cnn2gnn.toolchain.training.loop import TrainConfig

    out = tmp_path_factory.mktemp("lp_student")
    distill_student(None, out, TrainConfig(epochs=2, batch_size=128),
                    {"k": 5, "num_anchors": 64, "hidden": 32, "proj_dim": 16, **PLAIN_STUDENT, "label_mode": "lp",
                     "label_targets": "teacher"}, tiny_teacher_ckpt, cache_dir=None, progress=False)
    return out / "best.pt"
