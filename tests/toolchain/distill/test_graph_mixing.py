"""Alpha refitted on validation after training: never a higher validation loss; beta and a fixed alpha kept."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.toolchain.data.tensors import TensorSplit
from cnn2gnn.toolchain.distill.distill_student import _mixing_fitted_on_validation, distill_student
from cnn2gnn.toolchain.distill.graph_mixing import ALPHAS, fit_graph_mixing
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig


def _student_and_val(learn_alpha: bool = True, stem: str = "none") -> tuple[CNN2GNNStudent, TensorSplit]:
    torch.manual_seed(0)
    cfg = StudentConfig(in_channels=1, height=6, width=6, num_classes=3, k=3, num_anchors=24, proj_dim=4, hidden=8,
                        stem=stem, stem_widths=[4, 4], label_mode="lp", anchor_features="live", learn_alpha=learn_alpha,
                        dropout=0.0)
    model = CNN2GNNStudent(cfg)
    labels = torch.arange(24) % 3
    # class c is a blob around c: neighbours carry information, and a fitted mixing can use it
    images = labels[:, None, None, None].float() + 0.8 * torch.randn(24, 1, 6, 6)
    model.set_anchors(images, torch.arange(24), labels)
    val_y = torch.arange(60) % 3
    val = TensorSplit(x=val_y[:, None, None, None].float() + 0.8 * torch.randn(60, 1, 6, 6), y=val_y,
                      ids=torch.arange(60))
    return model.eval(), val


def _val_loss(model: CNN2GNNStudent, val: TensorSplit) -> float:
    model.invalidate_anchor_cache()
    with torch.no_grad():
        return float(F.cross_entropy(model(val.x), val.y))


@pytest.mark.parametrize("stem", ["none", "conv"])  # conv: the anchors' stem features (BatchNorm) computed once
def test_the_fit_takes_the_lowest_validation_loss_and_sets_it_in_the_model(stem: str) -> None:
    model, val = _student_and_val(stem=stem)
    beta = float(model.label_scale.detach())
    before = _val_loss(model, val)
    fit = fit_graph_mixing(model, val, seed=0)
    assert fit.val_loss_trained == pytest.approx(before, rel=1e-5)
    assert fit.val_loss <= fit.val_loss_trained
    assert fit.val_loss == pytest.approx(_val_loss(model, val), rel=1e-5)  # the model now computes the fitted loss
    assert float(model.alpha.detach()) == pytest.approx(fit.alpha, abs=1e-6)
    assert min(abs(fit.alpha - grid) for grid in ALPHAS) < 1e-6  # a grid point, as float32 rounds it
    assert float(model.label_scale.detach()) == beta
    # every grid point is at least as bad as the one chosen
    for alpha in (0.2, 0.995):
        model.alpha_logit.data.fill_(math.log(alpha / (1 - alpha)))
        assert _val_loss(model, val) >= fit.val_loss - 1e-6


def test_a_trained_alpha_that_rounds_to_one_is_fitted_and_restored_exactly() -> None:
    """A logit of 20 is alpha = 1.0 in float32: no log(alpha / (1 - alpha)); when it wins it comes back bit for bit."""
    model, val = _student_and_val()
    model.alpha_logit.data.fill_(20.0)
    fit = fit_graph_mixing(model, val, seed=0)
    assert fit.alpha_trained == 1.0 and math.isfinite(fit.val_loss)
    if fit.val_loss == fit.val_loss_trained:
        assert model.alpha_logit.item() == 20.0


def test_distill_skips_the_fit_for_a_fixed_alpha_and_on_a_resumed_fitted_run(tiny_teacher_ckpt: Path,
                                                                              tmp_path: Path) -> None:
    student = {"k": 3, "num_anchors": 24, "hidden": 16, "proj_dim": 8, "stem": "none"}
    cfg = TrainConfig(epochs=1, batch_size=256, device="cpu")
    fixed = distill_student(None, tmp_path / "fixed", cfg, {**student, "learn_alpha": False, "alpha": 0.7},
                            tiny_teacher_ckpt, progress=False)
    assert "graph_mixing" not in fixed
    model = model_from_checkpoint(load_checkpoint(tmp_path / "fixed" / "best.pt"))
    assert float(model.alpha.detach()) == pytest.approx(0.7)
    # A resumed run whose best.pt kept its fitted alpha (no better epoch since) is not refitted from that alpha.
    first = distill_student(None, tmp_path / "s", cfg, student, tiny_teacher_ckpt, progress=False)
    best = tmp_path / "s" / "best.pt"
    before = sha256_file(best)
    again = _mixing_fitted_on_validation(best, _student_and_val()[1], 0, torch.device("cpu"))
    assert again == first["graph_mixing"] and sha256_file(best) == before


def test_distill_records_the_fit_in_best_pt_and_metrics(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    student = {"k": 3, "num_anchors": 24, "hidden": 16, "proj_dim": 8, "stem": "none", "fit_mixing": True}
    result = distill_student(None, tmp_path / "s", TrainConfig(epochs=1, batch_size=256, device="cpu"), student,
                             tiny_teacher_ckpt, progress=False)
    record = result["graph_mixing"]
    best = load_checkpoint(tmp_path / "s" / "best.pt")
    assert best.run_config["graph_mixing"] == record
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["graph_mixing"] == record
    model = model_from_checkpoint(best)
    assert isinstance(model, CNN2GNNStudent)
    assert float(model.alpha.detach()) == pytest.approx(record["alpha"], abs=1e-6)
