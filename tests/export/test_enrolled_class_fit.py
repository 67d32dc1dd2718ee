"""An enrolled class's column: the bank's leave-one-out graph is the anchor side's, and the fit does what it says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from cnn2gnn.export.anchor_embedding import embed_images
from cnn2gnn.export.enrolled_class_fit import (
    BankGraph,
    ScoredSamples,
    anchor_logits,
    bank_graph,
    fit_class_column,
)
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint


def test_the_bank_graph_gives_the_anchor_sides_hidden_features(exported_lp_student: dict[str, Any]) -> None:
    model = onnx.load(exported_lp_student["output"])
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    student = model_from_checkpoint(load_checkpoint(Path(exported_lp_student["checkpoint"]))).double().eval()
    h, z = embed_images(model, student.anchor_images.float().numpy(), model.graph.input[0].name, "lp.onnx")
    graph = bank_graph(h, z, inits["anchor_values"], [inits["layer_weight_0"], inits["layer_weight_1"]],
                       student.cfg.k, student.cfg.eps)
    with torch.no_grad():
        want = student.anchor_side()["messages"][-1].numpy()  # W_2 h^1_a + b_2 of each anchor, itself left out
        alpha = float(student.alpha)
    got = graph.hidden @ inits["layer_weight_1"].astype(np.float64) / alpha + student.gcn[-1].bias.detach().numpy()
    assert np.abs(got - want).max() <= 1e-4
    # and its leave-one-out logits are the student's own graph's: hidden, messages and label vote
    logits = anchor_logits(graph, inits["anchor_values"], inits["layer_weight_1"], inits["anchor_targets"],
                           float(inits["label_scale"]))
    with torch.no_grad():
        anchors = student.anchor_side()
        from cnn2gnn.toolchain.graph.dsgl import aggregate

        w, idx = torch.from_numpy(graph.weights), torch.from_numpy(graph.index)
        reference = alpha * anchors["messages"][-1] + aggregate(w, idx, anchors["values"])[:, -logits.shape[1] :]
    assert np.abs(logits - reference.numpy()).max() <= 1e-3


def _synthetic(rng: np.random.Generator, misleading_vote: bool = False) -> dict[str, Any]:
    """Three trained classes of 30 anchors and an enrolled one of 10, each around its own direction in hidden space."""
    classes, hidden_dim, k = 4, 8, 5
    labels = np.repeat(np.arange(classes), [30, 30, 30, 10])
    centres = np.eye(hidden_dim)[:classes] * 3.0
    hidden = np.maximum(centres[labels] + 0.3 * rng.standard_normal((len(labels), hidden_dim)), 0.0)
    # neighbours: the same class's anchors; or (misleading) every trained anchor's are enrolled anchors and the
    # enrolled anchors' are trained ones, so the vote is highest where the class is absent
    index = np.empty((len(labels), k), dtype=np.int64)
    for i, label in enumerate(labels):
        pool = np.where(labels == label)[0] if not misleading_vote else np.where((labels == 3) != (label == 3))[0]
        index[i] = rng.choice(pool[pool != i], size=k, replace=False)
    weights = np.full((len(labels), k), 1.0 / k)
    last = np.zeros((hidden_dim, classes))
    last[:3, :3] = 2.0 * np.eye(3)  # trained columns read their own direction; the enrolled one is empty
    logits = hidden @ last + rng.standard_normal(last.shape[1]) * 0.01
    return {"graph": BankGraph(weights, index, hidden), "logits": logits, "labels": labels,
            "trained": np.array([True, True, True, False]), "last": last}


def _fit(case: dict[str, Any], **kwargs: Any) -> Any:
    return fit_class_column(case["graph"], case["logits"], case["labels"], 3, case["trained"], alpha=0.9,
                            label_scale=2.0, trained_biases=np.array([0.1, -0.1, 0.3]),
                            trained_weights=case["last"][:, :3], **kwargs)


def test_a_separable_class_is_learned_without_costing_the_others() -> None:
    case = _synthetic(np.random.default_rng(0))
    column = _fit(case)
    assert column.loo_accuracy == 1.0 and column.others_loo_accuracy == 1.0
    assert column.weight.argmax() == 3 and column.weight[3] > 0  # the class's own direction (imprinted)
    assert column.target_scale >= 0.0


def test_a_huge_ridge_gives_an_average_trained_class() -> None:
    case = _synthetic(np.random.default_rng(1))
    column = _fit(case, ridge=1e12)
    assert np.isclose(np.linalg.norm(column.weight), 2.0, rtol=1e-6)  # the trained columns' norm
    assert np.isclose(column.bias, 0.1, atol=1e-6)  # their mean bias
    assert np.isclose(column.target_scale, 30 / 10, rtol=1e-6)  # a trained class's share of the vote


def test_a_vote_that_would_count_against_the_class_is_dropped_not_negated() -> None:
    case = _synthetic(np.random.default_rng(2), misleading_vote=True)
    column = _fit(case, ridge=1e-6)
    assert column.target_scale == 0.0 and column.others_loo_accuracy == 1.0


def test_a_class_of_one_image_keeps_the_prior_norm_and_claims_no_leave_one_out_accuracy() -> None:
    case = _synthetic(np.random.default_rng(3))
    keep = np.concatenate([np.arange(90), [90]])  # the enrolled class reduced to its first anchor
    graph = case["graph"]
    remap = -np.ones(len(case["labels"]), dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    index = remap[graph.index[keep]]
    index = np.where(index < 0, 0, index)  # neighbours outside the reduced bank: any kept anchor
    one = {**case, "graph": BankGraph(graph.weights[keep], index, graph.hidden[keep]), "logits": case["logits"][keep],
           "labels": case["labels"][keep]}
    column = _fit(one)
    assert column.loo_accuracy is None
    assert np.isclose(np.linalg.norm(column.weight), 2.0, rtol=1e-6)  # the trained columns' norm, not fitted


def test_a_lower_class_weight_guards_the_other_classes() -> None:
    # overlapping classes: the enrolled class's direction is shared with trained class 0
    rng = np.random.default_rng(4)
    case = _synthetic(rng)
    hidden = case["graph"].hidden.copy()
    hidden[case["labels"] == 3] = np.maximum(hidden[case["labels"] == 3] + 2.0 * np.eye(8)[0], 0.0)
    case = {**case, "graph": BankGraph(case["graph"].weights, case["graph"].index, hidden)}
    equal, guarded = _fit(case), _fit(case, class_weight=0.1)
    assert guarded.others_loo_accuracy >= equal.others_loo_accuracy
    assert guarded.bias < equal.bias or np.linalg.norm(guarded.weight) < np.linalg.norm(equal.weight)


def test_scored_samples_that_are_the_anchors_fit_what_the_default_fits() -> None:
    case = _synthetic(np.random.default_rng(5))
    default = _fit(case)
    same = _fit(case, samples=ScoredSamples(case["graph"], case["logits"], case["labels"]))
    assert np.array_equal(same.weight, default.weight) and same.bias == default.bias
    assert same.target_scale == default.target_scale


def test_scored_samples_keep_the_banks_prior_and_neighbours() -> None:
    # scored on the enrolled anchors and one trained class's anchors only: the prior's vote share still counts the
    # bank (30 trained anchors per class against 10 enrolled), and the features still read the bank's hidden rows
    case = _synthetic(np.random.default_rng(6))
    rows = np.where((case["labels"] == 3) | (case["labels"] == 0))[0]
    graph = case["graph"]
    samples = ScoredSamples(BankGraph(graph.weights[rows], graph.index[rows], graph.hidden[rows]),
                            case["logits"][rows], case["labels"][rows])
    column = _fit(case, ridge=1e12, samples=samples)
    assert np.isclose(column.target_scale, 30 / 10, rtol=1e-6)
    fitted = _fit(case, samples=samples)
    assert fitted.loo_accuracy == 1.0 and fitted.others_loo_accuracy == 1.0  # scored on the rows it was given
