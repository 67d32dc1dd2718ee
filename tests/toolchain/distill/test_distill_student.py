"""``distill_student`` end to end on the embedded digits, with the session's tiny teacher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.tensors import augment_batch, tensors_from_split
from cnn2gnn.toolchain.distill.distill_student import distill_student
from cnn2gnn.toolchain.distill.distillation_data import distillation_data
from cnn2gnn.toolchain.graph.anchors import select_anchors
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig
from tests._students import PLAIN_STUDENT

SMALL = {"k": 3, "num_anchors": 24, "hidden": 16, "proj_dim": 8, **PLAIN_STUDENT}


def test_student_checkpoint_stores_its_anchors_and_the_teachers_preprocessing(
    tiny_teacher_ckpt: Path, tiny_student_ckpt: Path
) -> None:
    teacher = load_checkpoint(tiny_teacher_ckpt, kind="teacher")
    student = load_checkpoint(tiny_student_ckpt, kind="student")
    assert student.preprocessing == teacher.preprocessing
    assert student.class_names == teacher.class_names
    cfg = student.model_config
    assert (cfg["graph_mode"], cfg["k"], cfg["num_anchors"]) == ("anchor", 5, 64)
    dataset = load_dataset("digits")
    ids = select_anchors(dataset.train.labels, 64, cfg["anchor_selection"], seed=0)
    train = tensors_from_split(dataset.train, teacher.preprocessing)
    state = student.state_dict
    assert state["anchor_ids"].tolist() == ids.tolist()
    assert torch.equal(state["anchor_labels"], train.y[ids])
    assert torch.equal(state["anchor_images"], train.x[ids])
    run = json.loads((tiny_student_ckpt.parent / "config.json").read_text())
    assert run["teacher_sha256"] == sha256_file(tiny_teacher_ckpt)
    assert run["lambda"] == 0.7 and run["teacher_cache"] == "off"


def test_teacher_logits_are_cached_between_runs(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=256, device="cpu")
    first = distill_student(None, tmp_path / "a", cfg, SMALL, tiny_teacher_ckpt, cache_dir=tmp_path / "cache",
                            progress=False)
    second = distill_student(None, tmp_path / "b", cfg, SMALL, tiny_teacher_ckpt, cache_dir=tmp_path / "cache",
                             progress=False)
    assert (first["teacher_cache"], second["teacher_cache"]) == ("miss", "hit")
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".json", ".npy"]  # one entry: array + key
    # cached logits give the same training as fresh ones
    assert first["history"][0]["train_loss"] == pytest.approx(second["history"][0]["train_loss"], abs=1e-6)


def test_label_only_student_needs_data_and_ignores_lambda(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=256, device="cpu")
    with pytest.raises(Cnn2GnnError, match="data is required without a teacher"):
        distill_student(None, tmp_path, cfg, SMALL, None, progress=False)
    result = distill_student("digits", tmp_path, cfg, SMALL, None, image_size=8, progress=False)
    run = json.loads((tmp_path / "config.json").read_text())
    assert (result["teacher_cache"], run["lambda"], run["teacher"]) == ("off", 0.0, None)
    assert load_checkpoint(tmp_path / "best.pt").preprocessing.height == 8


def test_augmented_batches_get_the_teachers_logits_of_the_augmented_images(tiny_teacher_ckpt: Path) -> None:
    """A shifted image is another image: its target is the teacher's output on it, not the cached one."""
    inputs = distillation_data(None, TrainConfig(epochs=1, augment="shift", device="cpu"), tiny_teacher_ckpt)
    teacher = model_from_checkpoint(load_checkpoint(tiny_teacher_ckpt)).eval()
    ids = torch.arange(8)
    images = inputs.train.images_at(ids)
    x = augment_batch(images, "shift", torch.Generator().manual_seed(0))
    assert not torch.equal(x, images)
    targets = inputs.teacher_targets(torch.device("cpu"))(x, ids)
    with torch.no_grad():
        assert torch.allclose(targets, teacher(x), atol=1e-6)
    assert not torch.allclose(targets, inputs.teacher_logits[ids], atol=1e-3)
    unaugmented = distillation_data(None, TrainConfig(epochs=1, device="cpu"), tiny_teacher_ckpt)
    assert unaugmented.online_teacher is None
    assert torch.equal(unaugmented.teacher_targets(torch.device("cpu"))(x, ids), unaugmented.teacher_logits[ids])


def test_augmented_distillation_trains(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    result = distill_student(None, tmp_path, TrainConfig(epochs=1, augment="shift", device="cpu"), SMALL,
                             tiny_teacher_ckpt, progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["train"]["augment"] == "shift"
    assert result["best_epoch"] == 1


def test_a_student_checkpoint_is_not_a_teacher(tiny_student_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="expected a teacher"):
        distill_student(None, tmp_path, TrainConfig(epochs=1), SMALL, tiny_student_ckpt, progress=False)


def test_batch_mode_student_trains_when_the_last_batch_is_too_small(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    """The paper's batch graph needs k+2 samples per batch; a short last batch must not end the run."""
    n = len(load_dataset("digits").train)
    batch_size = next(b for b in range(100, 400) if 0 < n % b < SMALL["k"] + 2)
    result = distill_student(None, tmp_path, TrainConfig(epochs=1, batch_size=batch_size, device="cpu"),
                             {**SMALL, "graph_mode": "batch", "label_mode": "none"}, tiny_teacher_ckpt, progress=False)
    assert result["epochs"] == 1 and load_checkpoint(tmp_path / "best.pt").model_config["graph_mode"] == "batch"


def test_kmeans_anchors_are_refreshed_class_balanced_medoids(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    """anchor_selection kmeans starts from the class-balanced bank, then refreshes it every refresh_every epochs."""
    start = select_anchors(load_dataset("digits").train.labels, 24, "class-balanced", seed=0)
    distill_student(None, tmp_path, TrainConfig(epochs=2, batch_size=256, device="cpu"),
                    {**SMALL, "anchor_selection": "kmeans", "label_mode": "lp", "label_targets": "teacher"},
                    tiny_teacher_ckpt, progress=False, refresh_every=1)
    state = load_checkpoint(tmp_path / "last.pt").state_dict
    ids = state["anchor_ids"]
    assert ids.tolist() != start.tolist() and len(set(ids.tolist())) == 24
    labels = torch.from_numpy(load_dataset("digits").train.labels)
    assert torch.equal(state["anchor_labels"], labels[ids])
    assert torch.bincount(state["anchor_labels"], minlength=10).tolist() == torch.bincount(
        labels[torch.from_numpy(start)], minlength=10).tolist()  # the class-balanced shares
    targets = state["anchor_targets"]  # the teacher's soft labels of the refreshed anchors
    assert torch.allclose(targets.sum(dim=1), torch.ones(24)) and not torch.equal(targets, targets.round())


def test_teacher_label_targets_need_a_teacher(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, batch_size=256, device="cpu")
    with pytest.raises(Cnn2GnnError, match=r"label_targets \(--label-targets\) 'teacher' needs a teacher"):
        distill_student("digits", tmp_path, cfg, {**SMALL, "label_targets": "teacher"}, None, progress=False)
    with pytest.raises(Cnn2GnnError, match="refresh_every"):
        distill_student("digits", tmp_path, cfg, SMALL, None, progress=False, refresh_every=0)


def test_the_contrastive_term_clusters_the_hidden_features_by_class(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    """Trained with --contrastive, the student's own-path hidden features (its last layer's input without the
    neighbours' messages) score a lower supervised contrastive loss on validation images than without; the
    weight is recorded."""
    from cnn2gnn.toolchain.distill.contrastive_loss import supervised_contrastive_loss

    losses = {}
    for weight in (0.0, 3.0):
        out = tmp_path / f"c{weight:g}"
        distill_student(None, out, TrainConfig(epochs=2, device="cpu"), {**SMALL, "contrastive": weight},
                        tiny_teacher_ckpt, progress=False)
        payload = load_checkpoint(out / "best.pt")
        assert payload.model_config["contrastive"] == weight
        model = model_from_checkpoint(payload).eval()
        val = tensors_from_split(load_dataset("digits").val, payload.preprocessing)
        with torch.no_grad():
            hidden = torch.relu(model.gcn[0](model.features(val.x)))
            losses[weight] = supervised_contrastive_loss(hidden, val.y, 0.1).item()
    assert losses[3.0] < losses[0.0]
