from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.output_paths import (
    check_writable_output,
    refuse_clobbering_inputs,
    refuse_replacing_another_run,
    refuse_replacing_artifact,
    same_file,
)


def test_same_file_sees_links_and_spellings(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"m")
    os.link(model, tmp_path / "hard.onnx")
    (tmp_path / "soft.onnx").symlink_to(model)
    assert same_file(model, tmp_path / "hard.onnx") and same_file(model, tmp_path / "soft.onnx")
    assert same_file(tmp_path / "sub" / ".." / "new", tmp_path / "new")
    assert not same_file(model, tmp_path / "new")


def test_an_output_hard_linked_to_an_input_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"m")
    os.link(model, tmp_path / "out.jsonl")
    with pytest.raises(Cnn2GnnError, match=r"--out .*out.jsonl is the model .*m.onnx: writing it would destroy"):
        refuse_clobbering_inputs({"--out": tmp_path / "out.jsonl", "--save": None}, {"model": model})


def test_a_missing_folder_under_a_writable_one_is_fine(tmp_path: Path) -> None:
    check_writable_output(tmp_path / "new" / "deeper" / "report.json", "--report")
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == []  # the probe left nothing


def test_a_file_output_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"cannot write --report .*: it is a folder, not a file; give a file path"):
        check_writable_output(tmp_path, "--report")


def test_replacing_another_runs_model(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"m")
    with pytest.raises(Cnn2GnnError, match=r"holds a file without a cnn2gnn sidecar m.onnx.json; pass --overwrite"):
        refuse_replacing_another_run(model, "--output", lambda sidecar: True, overwrite=False)
    (tmp_path / "m.onnx.json").write_text('{"source_checkpoint_sha256": "abc"}')
    refuse_replacing_another_run(model, "--output", lambda s: s["source_checkpoint_sha256"] == "abc", False)
    with pytest.raises(Cnn2GnnError, match="holds a model made from other inputs"):
        refuse_replacing_another_run(model, "--output", lambda s: False, overwrite=False)
    refuse_replacing_another_run(model, "--output", lambda s: False, overwrite=True)


def test_a_log_over_an_artifact_or_a_sidecar_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(b"m")
    (tmp_path / "m.onnx.json").write_text("{}")
    (tmp_path / "old.jsonl").write_text("{}\n")
    for path, what in ((tmp_path / "m.onnx", "a cnn2gnn artifact"), (tmp_path / "m.onnx.json", "the metadata sidecar")):
        with pytest.raises(Cnn2GnnError, match=f"is {what}"):
            refuse_replacing_artifact(path, "--out", overwrite=False)
        refuse_replacing_artifact(path, "--out", overwrite=True)
    refuse_replacing_artifact(tmp_path / "old.jsonl", "--out", overwrite=False)  # an earlier log: replaced


@pytest.mark.parametrize("companion", ["m.onnx.json", "m.onnx.anchors.npy"])
def test_a_folder_where_a_models_companion_goes_is_refused_up_front(tmp_path: Path, companion: str) -> None:
    (tmp_path / companion).mkdir()
    with pytest.raises(Cnn2GnnError, match=rf"cannot write --output .*m\.onnx: its .* .*{companion} would go where a "
                                           r"folder is; remove the folder or choose another --output path"):
        check_writable_output(tmp_path / "m.onnx", "--output")
