from __future__ import annotations

import json
from pathlib import Path

from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
from cnn2gnn.toolchain.training.train_teacher import preprocessing_for


def test_preprocessing_defaults_and_overrides() -> None:
    assert preprocessing_for(1, 16, None, None, "linear") == Preprocessing(16, 16, 1, (0.5,), (0.5,), "linear")
    pre = preprocessing_for(3, 24, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), "area")
    assert (pre.mean, pre.std, pre.interpolation, pre.input_shape) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), "area", (3, 24, 24))


def test_teacher_checkpoint_carries_what_later_stages_need(tiny_teacher_ckpt: Path) -> None:
    payload = load_checkpoint(tiny_teacher_ckpt, kind="teacher")
    assert payload.model_config["family"] == "resnet" and payload.model_config["arch"] == "resnet8"
    assert payload.preprocessing.input_shape == (1, 16, 16)
    assert payload.class_names == [str(i) for i in range(10)]
    assert payload.dataset["spec"] == "digits" and len(payload.dataset["fingerprint"]) == 64
    assert payload.training.train_config["epochs"] == 2 and len(payload.training.history) == 2
    assert payload.training.best_val_accuracy > 0.2  # two short epochs already beat chance (0.1)
    config = json.loads((tiny_teacher_ckpt.parent / "config.json").read_text())
    assert config["command"] == "train-teacher" and config["preprocessing"] == payload.preprocessing.to_dict()


def test_a_streamed_run_equals_the_in_memory_run(tmp_path: Path) -> None:
    """Same batches, augmentation and validation whether images come from one tensor or from files in workers."""
    import torch

    from cnn2gnn.toolchain.training.loop import TrainConfig
    from cnn2gnn.toolchain.training.train_teacher import train_teacher
    from tests.toolchain.data.test_streaming import mixed_folder

    spec = mixed_folder(tmp_path / "data", per_class=12)
    runs = {}
    for stream, workers in (("off", 0), ("on", 2)):
        cfg = TrainConfig(epochs=2, batch_size=8, augment="shift-flip", device="cpu", stream=stream, workers=workers)
        runs[stream] = train_teacher(spec, tmp_path / stream, cfg, width=4, image_size=16, progress=False)
    for field in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert [h[field] for h in runs["on"]["history"]] == [h[field] for h in runs["off"]["history"]], field
    weights = [load_checkpoint(tmp_path / s / "last.pt").state_dict for s in ("off", "on")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
