from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.models.registry import create_model
from cnn2gnn.toolchain.models.student import CNN2GNNStudent, StudentConfig
from cnn2gnn.toolchain.training.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, model_from_checkpoint, save_checkpoint


def _student_payload() -> tuple[dict, torch.nn.Module]:
    config = StudentConfig(1, 6, 6, 3, k=2, num_anchors=8, proj_dim=4, hidden=8).to_dict()
    torch.manual_seed(0)
    model = create_model(config)
    assert isinstance(model, CNN2GNNStudent)
    model.set_anchors(torch.randn(8, 1, 6, 6), torch.arange(8), torch.arange(8) % 3)
    return {"kind": "student", "model_config": config, "state_dict": model.state_dict(), "class_names": ["a", "b", "c"],
            "history": [{"epoch": 1, "val_accuracy": 0.5}], "run_config": {"teacher": None}}, model


def test_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    payload, model = _student_payload()
    path = save_checkpoint(tmp_path / "run" / "student.pt", payload)
    loaded = load_checkpoint(path, kind="student")
    assert loaded["format"] == CHECKPOINT_FORMAT and loaded["class_names"] == ["a", "b", "c"]
    rebuilt = model_from_checkpoint(loaded)
    assert not rebuilt.training
    x = torch.randn(5, 1, 6, 6)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))


def test_real_teacher_and_student_checkpoints_load(tiny_teacher_ckpt: Path, tiny_student_ckpt: Path) -> None:
    for path, kind in ((tiny_teacher_ckpt, "teacher"), (tiny_student_ckpt, "student")):
        payload = load_checkpoint(path, kind=kind)
        model = model_from_checkpoint(payload)
        pre = payload["preprocessing"]
        with torch.no_grad():
            out = model(torch.zeros(2, pre["channels"], pre["height"], pre["width"]))
        assert out.shape == (2, len(payload["class_names"]))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(Cnn2GnnError, match="does not exist") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", [b"", b"garbage bytes, not a zip", b"PK\x03\x04 truncated"])
def test_corrupt_file_names_the_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(Cnn2GnnError, match="corrupt") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    path = save_checkpoint(tmp_path / "ok.pt", payload)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(Cnn2GnnError, match=str(path).replace("\\", "\\\\")):
        load_checkpoint(path)


def test_foreign_torch_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(Cnn2GnnError, match="not a cnn2gnn checkpoint") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_wrong_kind_names_the_path(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    path = save_checkpoint(tmp_path / "s.pt", payload)
    with pytest.raises(Cnn2GnnError, match="holds a student model, expected a teacher") as err:
        load_checkpoint(path, kind="teacher")
    assert str(path) in str(err.value)


def test_code_in_a_checkpoint_is_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "kind": "student", "hook": Path("x")}, path)  # a pickled class
    with pytest.raises(Cnn2GnnError, match="corrupt or not a cnn2gnn checkpoint"):
        load_checkpoint(path)


def test_failed_save_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    path = save_checkpoint(tmp_path / "last.pt", payload)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_checkpoint(path, {**payload, "unpicklable": lambda: None})  # torch.save fails mid-write
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert load_checkpoint(path, kind="student")["history"] == payload["history"]
