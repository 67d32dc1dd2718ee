from __future__ import annotations

import pickle
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import GraphSpec
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.models.registry import model_from_config
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.training.checkpoint import (
    CHECKPOINT_FORMAT,
    REQUIRED_FIELDS,
    Checkpoint,
    TrainingState,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from tests._students import PLAIN_STUDENT


def _student_payload() -> tuple[Checkpoint, torch.nn.Module]:
    config = StudentConfig(1, 6, 6, 3, k=2, num_anchors=8, proj_dim=4, hidden=8,
                           **PLAIN_STUDENT).to_dict()  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = model_from_config(config)
    assert isinstance(model, CNN2GNNStudent)
    model.set_anchors(torch.randn(8, 1, 6, 6), torch.arange(8), torch.arange(8) % 3)
    training = TrainingState(epoch=0, history=[{"epoch": 1, "val_accuracy": 0.5}], best_val_accuracy=0.5,
                             best_epoch=1, train_config={"seed": 3})
    return Checkpoint(kind="student", model_config=config, state_dict=model.state_dict(),
                      preprocessing=Preprocessing(6, 6, 1), class_names=["a", "b", "c"],
                      run_config={"teacher": None}, training=training), model


def test_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    payload, model = _student_payload()
    path = save_checkpoint(tmp_path / "run" / "student.pt", payload)
    loaded = load_checkpoint(path, kind="student")
    assert loaded.format == CHECKPOINT_FORMAT and loaded.class_names == ["a", "b", "c"]
    assert loaded.to_dict().keys() == payload.to_dict().keys() and loaded.training == payload.training
    assert loaded.family == "cnn2gnn-student" and loaded.train_seed == 3
    assert loaded.graph == GraphSpec(mode="anchor", k=2, num_anchors=8)
    assert torch.equal(loaded.anchors["anchor_labels"], torch.arange(8) % 3)
    rebuilt = model_from_checkpoint(loaded)
    assert not rebuilt.training
    x = torch.randn(5, 1, 6, 6)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))


def test_real_teacher_and_student_checkpoints_load(tiny_teacher_ckpt: Path, tiny_student_ckpt: Path) -> None:
    for path, kind in ((tiny_teacher_ckpt, "teacher"), (tiny_student_ckpt, "student")):
        payload = load_checkpoint(path, kind=kind)
        model = model_from_checkpoint(payload)
        with torch.no_grad():
            out = model(torch.zeros(2, *payload.preprocessing.input_shape))
        assert out.shape == (2, len(payload.class_names))
        assert (payload.graph is None) == (kind == "teacher") and (payload.anchors == {}) == (kind == "teacher")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(Cnn2GnnError, match="does not exist") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content, problem", [
    (b"", "is not a PyTorch checkpoint"), (b"garbage bytes, not a zip", "is not a PyTorch checkpoint"),
    (b"PK\x03\x04 truncated", "is corrupt or not a cnn2gnn checkpoint"),
])
def test_corrupt_file_names_the_path(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(Cnn2GnnError) as err:
        load_checkpoint(path)
    assert str(err.value).startswith(f"{'checkpoint ' if 'corrupt' in problem else ''}{path} {problem}")


@pytest.mark.parametrize("name", ["model.onnx", "model.engine"])
def test_an_exported_model_given_as_a_checkpoint_says_so(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x08\x07\x12\x07pytorch")  # an ONNX protobuf's first bytes
    with pytest.raises(Cnn2GnnError, match=r"is an exported model, not a training checkpoint; give the best\.pt"):
        load_checkpoint(path)


def test_a_run_folder_given_as_a_checkpoint_names_its_best_pt(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    save_checkpoint(tmp_path / "run" / "best.pt", payload)
    with pytest.raises(Cnn2GnnError, match=r"run is a folder; give the checkpoint file, e\.g\. .*run.best\.pt"):
        load_checkpoint(tmp_path / "run")


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


@pytest.mark.parametrize("missing", REQUIRED_FIELDS)
def test_a_missing_field_is_named(tmp_path: Path, missing: str) -> None:
    payload, _ = _student_payload()
    path = tmp_path / "partial.pt"
    torch.save({k: v for k, v in payload.to_dict().items() if k != missing}, path)
    with pytest.raises(Cnn2GnnError, match=f"lacks the field '{missing}'") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_on_disk_format_is_the_flat_dict(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    on_disk = torch.load(save_checkpoint(tmp_path / "s.pt", payload), weights_only=True)
    assert on_disk["format"] == CHECKPOINT_FORMAT and on_disk["model_config"]["family"] == "cnn2gnn-student"
    assert on_disk["preprocessing"] == Preprocessing(6, 6, 1).to_dict() and on_disk["epoch"] == 0
    assert "optimizer" not in on_disk and "training" not in on_disk


def test_wrong_kind_names_the_path(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    path = save_checkpoint(tmp_path / "s.pt", payload)
    with pytest.raises(Cnn2GnnError, match="holds a student model, expected a teacher") as err:
        load_checkpoint(path, kind="teacher")
    assert str(path) in str(err.value)


def test_code_in_a_checkpoint_is_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "kind": "student", "hook": Path("x")}, path)  # a pickled class
    with pytest.raises(Cnn2GnnError, match="not a cnn2gnn checkpoint: it holds Python objects") as err:
        load_checkpoint(path)
    assert "weights_only" not in str(err.value)  # torch's advice to load it unsafely is not passed on


def test_failed_save_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    path = save_checkpoint(tmp_path / "last.pt", payload)
    before = path.read_bytes()
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint(path, replace(payload, run_config={"unpicklable": lambda: None}))  # torch.save fails mid-write
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert load_checkpoint(path, kind="student").training == payload.training


# --- bad input (issue 11) -------------------------------------------------------------------------


def test_format_and_kind_alone_name_the_file_and_the_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "bare.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "kind": "teacher"}, path)
    with pytest.raises(Cnn2GnnError, match="lacks the field 'model_config'") as err:
        load_checkpoint(path)
    assert str(err.value).startswith(str(path))


def test_a_missing_dataset_spec_asks_for_data(tmp_path: Path) -> None:
    payload, _ = _student_payload()  # written without a dataset record
    loaded = load_checkpoint(save_checkpoint(tmp_path / "s.pt", payload))
    with pytest.raises(Cnn2GnnError, match=r"lacks the field 'dataset.spec'.*pass --data SPEC") as err:
        _ = loaded.dataset_spec
    assert str(tmp_path / "s.pt") in str(err.value)


def test_a_field_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    path = tmp_path / "odd.pt"
    torch.save({**payload.to_dict(), "class_names": "a,b,c"}, path)
    with pytest.raises(Cnn2GnnError, match="the checkpoint field 'class_names' is a string, expected a list") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("edit", "message"), [
    ("width", r"'gcn.0.weight' is \(8, 36\) in the checkpoint, the model config makes it \(9, 36\)"),
    ("drop", r"tensor 'gcn.0.bias' \(8,\) is missing"),
    ("extra", r"tensor 'stray' is not part of the model"),
])
def test_weights_that_do_not_fit_the_config_are_named(tmp_path: Path, edit: str, message: str) -> None:
    payload, _ = _student_payload()
    data = payload.to_dict()
    if edit == "width":  # the config's hidden width edited, the weights left as trained
        data["model_config"] = {**data["model_config"], "hidden": 9}
    elif edit == "drop":
        data["state_dict"] = {k: v for k, v in data["state_dict"].items() if k != "gcn.0.bias"}
    else:
        data["state_dict"] = {**data["state_dict"], "stray": torch.zeros(1)}
    path = tmp_path / "edited.pt"
    torch.save(data, path)
    with pytest.raises(Cnn2GnnError, match="weights do not match its recorded model config") as err:
        model_from_checkpoint(load_checkpoint(path))
    assert str(path) in str(err.value)
    assert re.search(message, str(err.value)), str(err.value)


def test_an_invalid_recorded_config_names_the_file(tmp_path: Path) -> None:
    payload, _ = _student_payload()
    data = payload.to_dict()
    data["model_config"] = {**data["model_config"], "hidden": 0}
    path = tmp_path / "zero.pt"
    torch.save(data, path)
    with pytest.raises(Cnn2GnnError, match=r"recorded model config is invalid \(hidden \(--hidden\) must be"):
        model_from_checkpoint(load_checkpoint(path))


def test_an_unsafe_pickle_is_not_a_checkpoint_and_no_unsafe_advice_is_given(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": torch.nn.Linear(2, 2)}, path)  # a whole pickled module
    before = path.read_bytes()
    with pytest.raises(Cnn2GnnError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"{path} is not a cnn2gnn checkpoint") and "torch.nn.modules.linear.Linear" in message
    assert "weights_only" not in message and "will likely succeed" not in message
    assert err.value.__cause__ is None  # torch's advice is not even chained into a traceback
    assert path.read_bytes() == before


def test_class_names_that_do_not_match_the_models_outputs_are_refused(tmp_path: Path) -> None:
    payload, _ = _student_payload()  # 3 outputs, class_names a, b, c
    path = tmp_path / "renamed.pt"
    torch.save({**payload.to_dict(), "class_names": ["a", "b"]}, path)
    with pytest.raises(Cnn2GnnError) as err:
        load_checkpoint(path)
    assert str(err.value) == (f"{path}: the checkpoint lists 2 class_names but its model has 3 outputs (model_config "
                              "num_classes); it is damaged or was edited: use the best.pt / last.pt the run wrote")


def test_an_unreadable_checkpoint_is_named_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sessions run as root, which chmod cannot lock out: the file system's refusal is played by Path.open.
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    path = tmp_path / "best.pt"
    path.write_bytes(b"PK\x03\x04")

    def refused(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refused)
    with pytest.raises(Cnn2GnnError, match=rf"cannot read checkpoint {re.escape(str(path))} \(Permission denied\); "
                                           "check its permissions"):
        load_checkpoint(path)
