"""A conv-stem student whose anchors carry labels exports with parity, batch independence and one Gather per
anchor constant."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from cnn2gnn.export.anchor_student import AnchorStudentForExport
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from tests.export._real_data import checkpoint_test_split

FORBIDDEN = {"ScatterND", "ScatterElements", "NonZero", "Unique", "Loop", "If"}


def test_wrapper_matches_the_float64_student(tiny_conv_label_student_ckpt: Path) -> None:
    student = model_from_checkpoint(load_checkpoint(tiny_conv_label_student_ckpt))
    assert student.cfg.stem == "conv" and student.cfg.label_mode == "both"
    assert float(student.label_scale.detach()) > 0
    assert not torch.equal(student.anchor_targets, torch.zeros_like(student.anchor_targets))
    x = checkpoint_test_split(tiny_conv_label_student_ckpt).x
    wrapper = AnchorStudentForExport(student)
    with torch.no_grad():
        want = copy.deepcopy(student).double().eval()(x.double()).numpy()
        for batch_size in (1, 64):
            got = torch.cat([wrapper(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()
            assert np.abs(got - want).max() <= 1e-5


def test_onnx_parity_ops_and_batch_independence(tiny_conv_label_student_ckpt: Path, tmp_path: Path) -> None:
    report = onnx_from_checkpoint(tiny_conv_label_student_ckpt, tmp_path / "s.onnx", progress=False)
    assert report["parity"]["max_abs_diff"] <= 1e-4 and report["parity"]["top1_agreement"] == 1.0
    model = onnx.load(report["output"])
    ops = [n.op_type for n in model.graph.node]
    assert not set(ops) & FORBIDDEN and ops.count("Gather") == 2 and ops.count("TopK") == 1
    # one Gather per neighbour constant, both indexed by the int32 neighbour_index output: the learned messages of
    # every layer (anchor_values) and the anchors' labels (anchor_targets, the label-propagation term)
    gathers = [n for n in model.graph.node if n.op_type == "Gather"]
    assert sorted(n.input[0] for n in gathers) == ["anchor_targets", "anchor_values"]
    assert {n.input[1] for n in gathers} == {"neighbour_index"}
    session = ort.InferenceSession(report["output"], providers=["CPUExecutionProvider"])
    x = checkpoint_test_split(tiny_conv_label_student_ckpt).x.numpy()[:64]
    batched = session.run(None, {"images": x})[0]
    alone = np.concatenate([session.run(None, {"images": x[i : i + 1]})[0] for i in range(len(x))])
    assert np.abs(alone - batched).max() <= 1e-5
