"""The exported student's extra outputs are the anchors it aggregated, recomputed in numpy from its constants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from cnn2gnn.contracts.anchor_bank import bank_checksum
from cnn2gnn.contracts.anchor_thumbnails import read_thumbnails, thumbnails_path
from cnn2gnn.contracts.metadata import read_sidecar
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from tests.export._real_data import checkpoint_test_split

OUTPUTS = ["logits", "neighbour_index", "neighbour_weight", "novelty"]


def _constants(path: str) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}


def _numpy_student(c: dict[str, np.ndarray], x: np.ndarray, k: int, eps: float) -> dict[str, np.ndarray]:
    """The exported computation from its constants alone (float64): features are flattened pixels."""
    h = x.reshape(len(x), -1).astype(np.float64)
    z = h @ c["projection.weight"].T.astype(np.float64) + c["projection.bias"]
    dist = c["anchor_z_sq"] + z @ c["anchor_dist_weight"]
    order = np.argsort(dist, axis=1, kind="stable")[:, : k + 1]
    nearest = np.take_along_axis(dist, order, axis=1)
    numer = nearest[:, k : k + 1] - nearest[:, :k] + eps
    weights = numer / numer.sum(axis=1, keepdims=True)
    index = order[:, :k]
    gathered = (weights[:, :, None] * c["anchor_values"][index]).sum(axis=1)
    hidden = c["layer_weight_0"].shape[1]
    h1 = np.maximum(h @ c["layer_weight_0"] + gathered[:, :hidden], 0)
    logits = h1 @ c["layer_weight_1"] + gathered[:, hidden:]
    if "anchor_targets" in c:
        logits += c["label_scale"] * (weights[:, :, None] * c["anchor_targets"][index]).sum(axis=1)
    unit = h1 / np.maximum(np.linalg.norm(h1, axis=1, keepdims=True), 1e-12)
    novelty = 1 - (unit @ c["anchor_hidden"]).max(axis=1)  # the largest cosine to any anchor's hidden features
    return {"logits": logits, "neighbour_index": index, "neighbour_weight": weights, "novelty": novelty}


@pytest.mark.parametrize("fixture", ["exported_student", "exported_lp_student"])
def test_reported_neighbours_are_the_anchors_the_model_aggregated(fixture: str, request: pytest.FixtureRequest,
                                                                  ) -> None:
    report: dict[str, Any] = request.getfixturevalue(fixture)
    path, k = report["output"], report["graph"]["k"]
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == OUTPUTS  # logits stay output 0
    x = checkpoint_test_split(Path(report["checkpoint"])).x.numpy()[:128]
    got = dict(zip(OUTPUTS, session.run(None, {"images": x})))
    want = _numpy_student(_constants(path), x, k, report["metadata"]["extra"]["anchor_bank"]["eps"])
    assert got["neighbour_index"].dtype == np.int32 and got["neighbour_index"].shape == (len(x), k)
    assert np.array_equal(got["neighbour_index"], want["neighbour_index"])
    assert np.abs(got["neighbour_weight"] - want["neighbour_weight"]).max() <= 1e-5
    assert np.abs(got["logits"] - want["logits"]).max() <= 1e-4
    assert np.allclose(got["novelty"], want["novelty"], rtol=1e-4, atol=1e-4)
    if fixture == "exported_lp_student":
        assert {"anchor_targets", "label_scale"} <= set(_constants(path))
        # the label term is not folded into anchor_values: without it, the logits change
        assert np.abs(want["logits"] - _numpy_student({n: a for n, a in _constants(path).items()
                                                        if n != "anchor_targets"}, x, k, 1e-6)["logits"]).max() > 1e-3


def test_novelty_is_one_minus_the_largest_cosine_to_any_anchors_hidden_features(exported_lp_student: dict[str, Any]
                                                                                 ) -> None:
    ckpt = Path(exported_lp_student["checkpoint"])
    student = model_from_checkpoint(load_checkpoint(ckpt)).eval()
    x = checkpoint_test_split(ckpt).x[:64]
    import torch

    from cnn2gnn.toolchain.graph.dsgl import aggregate

    with torch.no_grad():  # the student's own computation: its hidden features and its anchor side's
        anchors = student.anchor_side()
        h = student.features(x)
        w, index = student.neighbours_of_features(h)
        hidden = torch.relu(student.alpha * student.gcn[0](h)
                            + aggregate(w, index, anchors["values"])[:, : student.gcn[0].out_features])
        unit, unit_a = (torch.nn.functional.normalize(v, dim=1) for v in (hidden, anchors["hidden"]))
        cosine = unit @ unit_a.t()
    session = ort.InferenceSession(exported_lp_student["output"], providers=["CPUExecutionProvider"])
    novelty = session.run(["novelty"], {"images": x.numpy()})[0]
    assert np.allclose(novelty, 1 - cosine.max(dim=1).values.numpy(), atol=1e-4)
    assert novelty.min() >= 0 and novelty.max() <= 1  # ReLU features: cosines from 0 to 1
    assert np.ptp(novelty) > 1e-3  # a score that tells images apart


def test_every_output_is_the_same_alone_and_in_a_batch(exported_lp_student: dict[str, Any]) -> None:
    session = ort.InferenceSession(exported_lp_student["output"], providers=["CPUExecutionProvider"])
    x = checkpoint_test_split(Path(exported_lp_student["checkpoint"])).x.numpy()[:64]
    batched = session.run(None, {"images": x})
    alone = [session.run(None, {"images": x[i : i + 1]}) for i in range(len(x))]
    for j, name in enumerate(OUTPUTS):
        single = np.concatenate([a[j] for a in alone])
        assert np.abs(single.astype(np.float64) - batched[j]).max() <= 1e-5, name
    assert exported_lp_student["parity"]["max_abs_diff"] <= 1e-4


def test_metadata_records_outputs_bank_size_checksum_and_thumbnails(exported_lp_student: dict[str, Any]) -> None:
    path = exported_lp_student["output"]
    sidecar = read_sidecar(path)
    bank = sidecar["extra"]["anchor_bank"]
    constants = _constants(path)
    assert bank["outputs"] == OUTPUTS[1:] and bank["size"] == 64 and bank["label_mode"] == "lp"
    assert bank["sha256"] == bank_checksum(constants)
    assert len(bank["anchor_labels"]) == 64 and 0 < bank["alpha"] < 1
    thumbs = read_thumbnails(path, bank["thumbnails_sha256"])
    assert thumbs.shape == (64, 16, 16, 1) and thumbs.dtype == np.uint8 and thumbs.max() > 128
    # embedded copy agrees with the sidecar
    embedded = json.loads(next(p.value for p in onnx.load(path).metadata_props if p.key == "cnn2gnn"))
    assert embedded["extra"]["anchor_bank"]["sha256"] == bank["sha256"]


def test_thumbnails_of_another_bank_are_refused(exported_lp_student: dict[str, Any], tmp_path: Path) -> None:
    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_bytes
    from cnn2gnn.contracts.errors import Cnn2GnnError

    model = tmp_path / "m.onnx"
    thumbnails_path(model).write_bytes(thumbnails_bytes(np.zeros((64, 16, 16, 1), np.uint8)))
    with pytest.raises(Cnn2GnnError, match="belongs to another anchor bank"):
        read_thumbnails(model, exported_lp_student["metadata"]["extra"]["anchor_bank"]["thumbnails_sha256"])


@pytest.mark.parametrize("damage", ["truncated", "not npy"])
def test_damaged_thumbnails_are_called_damaged(exported_lp_student: dict[str, Any], tmp_path: Path,
                                               damage: str) -> None:
    from cnn2gnn.contracts.errors import Cnn2GnnError

    model = tmp_path / "m.onnx"
    data = thumbnails_path(exported_lp_student["output"]).read_bytes()
    thumbnails_path(model).write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not these")
    with pytest.raises(Cnn2GnnError, match=r"m\.onnx\.anchors\.npy is damaged \(truncated"):
        read_thumbnails(model, exported_lp_student["metadata"]["extra"]["anchor_bank"]["thumbnails_sha256"])


def test_without_neighbour_outputs_only_logits(tiny_lp_student_ckpt: Path, tmp_path: Path) -> None:
    report = onnx_from_checkpoint(tiny_lp_student_ckpt, tmp_path / "plain.onnx", parity_samples=32,
                                  neighbour_outputs=False, progress=False)
    model = onnx.load(report["output"])
    assert [o.name for o in model.graph.output] == ["logits"]
    # without the novelty, only the messages' and the label term's Gathers remain
    assert sorted(n.input[0] for n in model.graph.node if n.op_type == "Gather") == ["anchor_targets", "anchor_values"]
    assert report["tensorrt_check"] == "compatible" and report["metadata"]["extra"]["anchor_bank"]["outputs"] == []
