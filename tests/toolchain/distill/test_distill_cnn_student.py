import json
from pathlib import Path

import torch

from cnn2gnn.toolchain.distill.distill_cnn_student import distill_cnn_student
from cnn2gnn.toolchain.distill.distill_student import distill_student
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.evaluate_checkpoint import evaluate_checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig
from tests._students import PLAIN_STUDENT


def test_distils_with_the_gnn_students_data_and_teacher_logits(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=256, device="cpu")
    cache = tmp_path / "cache"
    result = distill_cnn_student(None, tmp_path / "cnn", cfg, [4, 8], tiny_teacher_ckpt, cache_dir=cache,
                                 progress=False)
    gnn = distill_student(None, tmp_path / "gnn", cfg, {"k": 3, "num_anchors": 24, "hidden": 8, "proj_dim": 4, **PLAIN_STUDENT},
                          tiny_teacher_ckpt, cache_dir=cache, progress=False)
    assert (result["teacher_cache"], gnn["teacher_cache"]) == ("miss", "hit")  # one cache, same tensors
    payload = load_checkpoint(result["best_checkpoint"], kind="student")
    teacher = load_checkpoint(tiny_teacher_ckpt)
    assert payload.family == "cnn-student" and payload.model_config["widths"] == [4, 8]
    assert payload.preprocessing == teacher.preprocessing and payload.graph is None
    assert json.loads((tmp_path / "cnn" / "config.json").read_text())["lambda"] == 0.7
    assert model_from_checkpoint(payload)(torch.zeros(2, 1, 16, 16)).shape == (2, 10)
    assert 0.0 <= evaluate_checkpoint(Path(result["best_checkpoint"]), None, "test", 64, "cpu")["accuracy"] <= 1.0
