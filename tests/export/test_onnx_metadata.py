"""ONNX metadata I/O: embedded + sidecar written together and atomically, clear errors for foreign or broken files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import METADATA_KEY, ModelMetadata, sidecar_path
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.export.onnx_metadata import read_onnx_metadata, write_onnx_with_metadata


def _model(extra_props: dict[str, str] | None = None):
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["images"], ["flat"]), helper.make_node("Gemm", ["flat", "W"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 1, 2, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if extra_props:
        helper.set_model_props(model, extra_props)
    return model


def _metadata() -> ModelMetadata:
    return ModelMetadata(kind="student", class_names=["a", "b", "c"],
                         preprocessing=Preprocessing(height=2, width=2, channels=1),
                         graph={"mode": "anchor", "k": 2, "num_anchors": 8}, run_config={"command": "distill"},
                         extra={"opset": 17})


def test_round_trip_embedded_and_sidecar(tmp_path: Path) -> None:
    model = _model({"author": "someone"})
    path = tmp_path / "m.onnx"
    sidecar = write_onnx_with_metadata(model, path, _metadata(), extra_sidecar={"note": "x"})

    assert read_onnx_metadata(path) == _metadata()  # the embedded copy, without the sidecar-only keys
    on_disk = json.loads(sidecar_path(path).read_text())
    assert on_disk == sidecar
    assert on_disk["extra"] == {"opset": 17, "note": "x", "onnx_sha256": sha256_file(path)}
    assert ModelMetadata.from_dict(on_disk).graph == {"mode": "anchor", "k": 2, "num_anchors": 8}
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["author"] == "someone"  # other entries survive
    assert len(model.metadata_props) == 1  # the caller's proto is untouched


def test_rewriting_replaces_the_entry_instead_of_duplicating_it(tmp_path: Path) -> None:
    import onnx

    path = tmp_path / "m.onnx"
    write_onnx_with_metadata(_model(), path, _metadata())
    again = _metadata()
    again.precision = "int8-qdq"
    write_onnx_with_metadata(onnx.load(str(path)), path, again)
    keys = [p.key for p in onnx.load(str(path)).metadata_props]
    assert keys.count(METADATA_KEY) == 1
    assert read_onnx_metadata(path).precision == "int8-qdq"


def test_foreign_onnx_is_named_as_such(tmp_path: Path) -> None:
    import onnx

    path = tmp_path / "foreign.onnx"
    onnx.save(_model(), str(path))
    with pytest.raises(Cnn2GnnError, match=r"foreign\.onnx: not made by cnn2gnn export \(no cnn2gnn metadata"):
        read_onnx_metadata(path)


def test_truncated_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.onnx"
    write_onnx_with_metadata(_model(), good, _metadata())
    data = good.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(Cnn2GnnError, match=r"truncated\.onnx is corrupt, truncated or not an ONNX model"):
        read_onnx_metadata(truncated)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(Cnn2GnnError, match=r"garbage\.onnx is corrupt"):
        read_onnx_metadata(garbage)
    with pytest.raises(Cnn2GnnError, match=r"missing\.onnx does not exist"):
        read_onnx_metadata(tmp_path / "missing.onnx")


def test_a_cut_on_a_field_boundary_is_still_reported_as_truncated(tmp_path: Path) -> None:
    import onnx

    cut = onnx.ModelProto()
    cut.ir_version = 8
    cut.graph.CopyFrom(_model().graph)  # what is left when the file ends right after the graph
    path = tmp_path / "cut.onnx"
    path.write_bytes(cut.SerializeToString())
    with pytest.raises(Cnn2GnnError, match=r"cut\.onnx is truncated or not an ONNX model \(it has no opset_import\)"):
        read_onnx_metadata(path)


def test_a_failed_sidecar_write_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def disk_full_at_the_sidecar(fd):
        calls.append(fd)
        if len(calls) == 2:  # the model is written in full (as a temporary), the sidecar is not
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full_at_the_sidecar)
    path = tmp_path / "m.onnx"
    with pytest.raises(Cnn2GnnError, match=r"cannot write .*m.onnx: No space left on device"):
        write_onnx_with_metadata(_model(), path, _metadata())
    assert list(tmp_path.iterdir()) == []


def test_a_folder_where_the_thumbnails_go_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    (tmp_path / "m.onnx.anchors.npy").mkdir()
    with pytest.raises(Cnn2GnnError, match=r"^cannot write .*m\.onnx\.anchors\.npy: Is a directory \(a folder has its "
                                           r"name\); remove the folder or choose another path$"):
        write_onnx_with_metadata(_model(), path, _metadata(), extra_files=[(tmp_path / "m.onnx.anchors.npy", b"t")])
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx.anchors.npy"]
