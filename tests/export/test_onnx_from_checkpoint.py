"""`cnn2gnn export` on real (tiny, trained) checkpoints: valid ONNX, PyTorch parity, metadata, refusals, no partial
files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata, sidecar_path
from cnn2gnn.export import parity as parity_module
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
from cnn2gnn.export.onnx_metadata import read_onnx_metadata
from cnn2gnn.export.tensorrt_ops import SUPPORTED_OPS
from cnn2gnn.runtime.model_info import read_model_metadata
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from tests.export._real_data import checkpoint_test_split

runner = CliRunner()
FORBIDDEN_OPS = {"NonZero", "Unique", "Scatter", "ScatterElements", "ScatterND"}


def _session(path: str) -> ort.InferenceSession:
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([session.run(None, {"images": x[i : i + batch_size]})[0]
                           for i in range(0, len(x), batch_size)])


def _exports(request: pytest.FixtureRequest, kind: str) -> tuple[dict[str, Any], Path]:
    ckpt = request.getfixturevalue(f"tiny_{kind}_ckpt")
    return request.getfixturevalue(f"exported_{kind}"), ckpt


@pytest.mark.parametrize("kind", ["teacher", "student"])
def test_onnx_runtime_matches_pytorch_on_real_digits(kind: str, request: pytest.FixtureRequest) -> None:
    report, ckpt = _exports(request, kind)
    onnx.checker.check_model(onnx.load(report["output"]), full_check=True)
    x = checkpoint_test_split(ckpt).x.numpy()
    model = model_from_checkpoint(load_checkpoint(ckpt))
    exact = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        want64 = exact(torch.from_numpy(x).double()).numpy()
        want32 = model(torch.from_numpy(x)).numpy()
    session = _session(report["output"])
    for batch_size in (1, 64):
        got = _run(session, x, batch_size)
        assert np.abs(got - want64).max() <= 1e-4
        assert (got.argmax(1) == want64.argmax(1)).all()
        assert (got.argmax(1) == want32.argmax(1)).all()
    # the export measured the same thing on its first 256 images
    assert report["parity"]["num_images"] == 256 and report["parity"]["split"] == "test"
    assert set(report["parity"]["batch_sizes"]) == {"1", "64"}
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["parity"]["top1_agreement"] == 1.0


def test_student_prediction_does_not_depend_on_the_batch(exported_student: dict[str, Any],
                                                         tiny_student_ckpt: Path) -> None:
    x = checkpoint_test_split(tiny_student_ckpt).x.numpy()[:64]
    session = _session(exported_student["output"])
    batched = session.run(None, {"images": x})[0]
    for i in (0, 17, 63):
        alone = session.run(None, {"images": x[i : i + 1]})[0]
        assert np.abs(alone[0] - batched[i]).max() <= 1e-5
    shuffled = session.run(None, {"images": x[::-1].copy()})[0][::-1]
    assert np.abs(shuffled - batched).max() <= 1e-5


def test_student_graph_is_matmul_topk_gather_with_anchor_initializers(exported_student: dict[str, Any],
                                                                      tiny_student_ckpt: Path) -> None:
    model = onnx.load(exported_student["output"])
    ops = {n.op_type for n in model.graph.node}
    assert {"TopK", "Gather", "ReduceSum"} <= ops and ops & {"MatMul", "Gemm"}
    assert ops <= SUPPORTED_OPS and not ops & FORBIDDEN_OPS
    assert [i.name for i in model.graph.input] == ["images"]
    assert [o.name for o in model.graph.output] == ["logits", "neighbour_index", "neighbour_weight", "novelty"]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    (topk,) = [n for n in model.graph.node if n.op_type == "TopK"]
    assert topk.input[1] in inits and inits[topk.input[1]].tolist() == [6]  # K = k + 1, an initializer
    student = model_from_checkpoint(load_checkpoint(tiny_student_ckpt))
    anchors = student.anchor_side()
    # the layers' biases alpha * b_l ride in the anchor values (each row of weights sums to 1)
    biases = torch.cat([student.alpha * layer.bias for layer in student.gcn]).detach()
    values = (torch.cat([(1 - student.alpha) * m for m in anchors["messages"]], dim=1) + biases).detach().numpy()
    arrays = list(inits.values())
    # all layers' anchor messages (1 - alpha) W_l H_a, one constant for one gather, stored not recomputed
    assert any(a.shape == values.shape and np.abs(a - values).max() < 1e-5 for a in arrays)
    # One Gather, indexed by the int32 neighbour_index output (one Cast after TopK's Slice): all layers'
    # messages (anchor_values). This student has no label term, so no anchor_targets Gather; the novelty
    # reads every anchor's hidden features (anchor_hidden) with a MatMul, not a Gather.
    gathers = [n for n in model.graph.node if n.op_type == "Gather"]
    assert sorted(n.input[0] for n in gathers) == ["anchor_values"]
    assert any(n.op_type == "MatMul" and "anchor_hidden" in n.input for n in model.graph.node)
    assert {n.input[1] for n in gathers} == {"neighbour_index"}
    dtypes = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    assert dtypes["neighbour_index"] == onnx.TensorProto.INT32  # TensorRT 8.x cannot output int64
    m = student.cfg.num_anchors
    assert any(a.shape in ((1, m), (m,)) for a in arrays)  # the anchors' squared norms
    assert any(a.shape == (student.cfg.proj_dim, m) for a in arrays)  # their projections (transposed, -2 z_a^T)
    assert not any(i.name == "anchor_images" for i in model.graph.initializer)  # raw anchors are not needed


@pytest.mark.parametrize("kind", ["teacher", "student"])
def test_metadata_embedded_and_in_the_sidecar(kind: str, request: pytest.FixtureRequest) -> None:
    report, ckpt = _exports(request, kind)
    payload = load_checkpoint(ckpt)
    path = Path(report["output"])
    embedded = read_onnx_metadata(path)
    sidecar = json.loads(sidecar_path(path).read_text())
    assert ModelMetadata.from_dict(sidecar) == ModelMetadata(**{**embedded.__dict__, "extra": sidecar["extra"]})
    assert sidecar["extra"]["onnx_sha256"] == sha256_file(path) == report["onnx_sha256"]
    assert "onnx_sha256" not in embedded.extra
    assert embedded.kind == kind and embedded.precision == "fp32"
    assert embedded.input_name == "images" and embedded.output_name == "logits"
    assert embedded.input_shape == [-1, 1, 16, 16] and sidecar["input_shape"] == [-1, 1, 16, 16]
    assert embedded.preprocessing == payload.preprocessing
    assert embedded.class_names == payload.class_names
    assert embedded.source_checkpoint_sha256 == sha256_file(ckpt)
    assert embedded.run_config == payload.run_config
    assert embedded.extra["opset"] == 17
    assert embedded.extra["export_parity"]["batch_sizes"]["64"]["top1_agreement"] == 1.0
    expected_graph = {"mode": "anchor", "k": 5, "num_anchors": 64} if kind == "student" else None
    assert embedded.graph == expected_graph
    assert read_model_metadata(path) == embedded  # what the torch-free runtime reads


def test_batch_mode_student_is_refused(batch_mode_student_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch.onnx"
    with pytest.raises(Cnn2GnnError, match=r"batch-mode student cannot be exported.*anchor-mode"):
        onnx_from_checkpoint(batch_mode_student_ckpt, out, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_broken_parity_fails_and_leaves_no_file(tiny_student_ckpt: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parity_module, "PARITY_MAX_ABS_DIFF", -1.0)  # no real difference can pass this
    out = tmp_path / "student.onnx"
    with pytest.raises(Cnn2GnnError, match=r"ONNX Runtime disagrees with PyTorch.*nothing was written") as info:
        onnx_from_checkpoint(tiny_student_ckpt, out, progress=False)
    assert "batch   1: max |Δlogit|" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_bank_with_reserved_room_records_its_capacity_and_the_used_anchors_checksum(
        exported_padded_lp_student: dict[str, Any], exported_lp_student: dict[str, Any]) -> None:
    from cnn2gnn.contracts.anchor_thumbnails import read_thumbnails
    from cnn2gnn.export.anchor_bank_capacity import bank_rows
    from cnn2gnn.export.anchor_bank_onnx import bank_constants
    from cnn2gnn.export.onnx_from_checkpoint import format_export_report
    from cnn2gnn.export.parity import parity_passed

    report = exported_padded_lp_student
    bank = report["metadata"]["extra"]["anchor_bank"]
    assert parity_passed(report["parity"])  # the padded model against PyTorch's unpadded student
    assert (bank["capacity"], bank["size"], report["graph"]["num_anchors"]) == (100, 64, 64)
    assert bank_rows(bank_constants(onnx.load(report["output"]), "lp100")) == 100
    # the checksum covers the used anchors: the same bank, padded or not
    assert bank["sha256"] == exported_lp_student["metadata"]["extra"]["anchor_bank"]["sha256"]
    assert len(read_thumbnails(report["output"], bank["thumbnails_sha256"])) == 64
    assert "64 anchors in a bank of 100 rows" in format_export_report(report)


def test_unknown_tpr_of_a_teacher_names_the_missing_anchors_not_the_outputs_flag(tiny_teacher_ckpt: Path,
                                                                                 tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"teacher checkpoints have no anchors, so no novelty"):
        onnx_from_checkpoint(tiny_teacher_ckpt, tmp_path / "t.onnx", progress=False, unknown_tpr=0.9,
                             neighbour_outputs=False)
    assert list(tmp_path.iterdir()) == []


def test_bank_capacity_needs_an_anchor_mode_student(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"no anchor bank to reserve room in: --bank-capacity needs an anchor-mode"):
        onnx_from_checkpoint(tiny_teacher_ckpt, tmp_path / "t.onnx", progress=False, bank_capacity=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"output_name": "model.pt"}, r"must end in \.onnx"),
    ({"opset": 13}, r"opset 13 is outside the supported 17\.\.20"),
    ({"parity_samples": 0}, r"parity samples \(--parity-samples\) must be at least 1"),
])
def test_bad_arguments_are_user_errors(tiny_teacher_ckpt: Path, tmp_path: Path, kwargs: dict[str, Any],
                                       message: str) -> None:
    out = tmp_path / kwargs.pop("output_name", "m.onnx")
    with pytest.raises(Cnn2GnnError, match=message):
        onnx_from_checkpoint(tiny_teacher_ckpt, out, progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"unknown_tpr": float("nan")}, r"--unknown-tpr must be between 0 and 1 .*got nan"),
    ({"unknown_tpr": 1.0}, r"--unknown-tpr must be between 0 and 1 .*got 1\.0"),
    ({"unknown_tpr": 0.9, "neighbour_outputs": False}, r"--unknown-tpr needs the novelty output: drop "
                                                        r"--no-neighbour-outputs"),
])
def test_a_bad_unknown_tpr_is_refused_before_the_export_runs(tiny_student_ckpt: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any],
                                                             message: str) -> None:
    def parity_ran(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the export and its parity check ran before the option was checked")

    monkeypatch.setattr(parity_module, "onnx_parity", parity_ran)
    with pytest.raises(Cnn2GnnError, match=message):
        onnx_from_checkpoint(tiny_student_ckpt, tmp_path / "s.onnx", progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_json(tiny_student_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.onnx"
    result = runner.invoke(app, ["export", str(tiny_student_ckpt), "-o", str(out), "--parity-samples", "64",
                                 "--opset", "18", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["output"] == str(out) and report["opset"] == 18 and report["tensorrt_check"] == "compatible"
    assert report["parity"]["num_images"] == 64
    assert onnx.load(str(out)).opset_import[0].version == 18
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.onnx", "s.onnx.anchors.npy", "s.onnx.json"]


def test_a_checkpoint_whose_class_names_do_not_fit_its_outputs_is_refused(tiny_teacher_ckpt: Path,
                                                                          tmp_path: Path) -> None:
    data = load_checkpoint(tiny_teacher_ckpt).to_dict()
    edited = tmp_path / "three-names.pt"
    torch.save({**data, "class_names": data["class_names"][:3]}, edited)
    out = tmp_path / "out" / "t.onnx"
    with pytest.raises(Cnn2GnnError, match=rf"three-names\.pt: the checkpoint lists 3 class_names but its model has "
                                           rf"{len(data['class_names'])} outputs"):
        onnx_from_checkpoint(edited, out, progress=False)
    assert not out.parent.exists()
