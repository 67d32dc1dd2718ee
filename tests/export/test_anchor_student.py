"""AnchorStudentForExport computes what the student computes in eval mode, from stored anchor constants."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.export.anchor_student import AnchorStudentForExport
from cnn2gnn.toolchain.graph.dsgl import adaptive_neighbours, squared_distances
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from tests.export._real_data import checkpoint_test_split


@pytest.fixture(scope="module")
def student(tiny_student_ckpt: Path) -> CNN2GNNStudent:
    return model_from_checkpoint(load_checkpoint(tiny_student_ckpt))


def test_matches_the_eval_mode_student_in_float64(student: CNN2GNNStudent, tiny_student_ckpt: Path) -> None:
    x = checkpoint_test_split(tiny_student_ckpt).x
    wrapper = AnchorStudentForExport(student)
    exact = copy.deepcopy(student).double().eval()
    with torch.no_grad():
        want = exact(x.double()).numpy()
        for batch_size in (1, 64):
            got = torch.cat([wrapper(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()
            assert np.abs(got - want).max() <= 1e-5
            assert (got.argmax(1) == want.argmax(1)).all()


def test_same_neighbours_as_the_student(student: CNN2GNNStudent, tiny_student_ckpt: Path) -> None:
    x = checkpoint_test_split(tiny_student_ckpt).x[:100]
    wrapper = AnchorStudentForExport(student)
    with torch.no_grad():
        z = wrapper.projection(wrapper.features(x))
        weights, index = adaptive_neighbours(squared_distances(z, wrapper.anchor_z, wrapper.anchor_z_sq), student.cfg.k)
        # the exported path drops ||z||^2 from the distances: same neighbours, same weights
        weights_fast, index_fast = adaptive_neighbours(wrapper.distances(x), student.cfg.k)
        want_weights, want_index = student.neighbours(x)
    assert torch.equal(index_fast, index) and (weights_fast - weights).abs().max() <= 1e-5
    assert torch.equal(index, want_index)
    assert (weights - want_weights).abs().max() <= 1e-5


def test_constants_are_float32_buffers_and_the_student_is_untouched(student: CNN2GNNStudent) -> None:
    bias_before = student.projection.bias.detach().clone()
    wrapper = AnchorStudentForExport(student)
    buffers = dict(wrapper.named_buffers())
    m, layers = student.cfg.num_anchors, student.cfg.layers
    assert set(buffers) == {"anchor_z", "anchor_z_sq", "anchor_dist_weight", "anchor_values",
                            *(f"layer_weight_{i}" for i in range(layers))}
    widths = sum([student.cfg.hidden] * (layers - 1) + [student.cfg.num_classes])
    assert buffers["anchor_values"].shape == (m, widths)  # every layer's anchor messages, one gather
    assert all(b.dtype == torch.float32 for b in buffers.values())
    assert buffers["anchor_z"].shape == (m, student.cfg.proj_dim) and buffers["anchor_z_sq"].shape == (m,)
    assert torch.allclose(buffers["anchor_z"].mean(dim=0), torch.zeros(student.cfg.proj_dim), atol=1e-4)  # centred
    assert torch.equal(student.projection.bias, bias_before) and not wrapper.training


def test_batch_mode_student_is_refused(student: CNN2GNNStudent) -> None:
    batch_cfg = StudentConfig(**{**{k: v for k, v in student.cfg.to_dict().items() if k != "family"},
                                 "graph_mode": "batch"})
    with pytest.raises(Cnn2GnnError, match=r"batch-mode student cannot be exported.*--graph-mode anchor"):
        AnchorStudentForExport(CNN2GNNStudent(batch_cfg).eval())


def test_k_beyond_tensorrts_topk_limit_is_refused_before_training() -> None:
    with pytest.raises(Cnn2GnnError, match=r"K=k\+1=3841, above TensorRT's limit of 3840"):
        StudentConfig(in_channels=1, height=2, width=2, num_classes=2, k=3840, num_anchors=3842, proj_dim=2, hidden=2)
