"""A class enrolled after training gets a logit of its own, fitted on the anchor bank by leave-one-out (numpy).

A student whose own path carries its predictions (alpha near 1) gives a new class nothing but its share of
the label vote beta * sum_j p_ij Y_j, which loses to the learned logits of the trained classes. So enrolment
fills the new class's column of the last layer with the mean direction u of its anchors' last hidden
features (weight imprinting), and fits three numbers: the column's norm a, its bias b and the vote scale s of
the class's targets. The logit of class c for a sample x with neighbours p_j is then

    a * (u . h(x) + (1 - alpha) / alpha * sum_j p_j u . h_j) + b + s * beta * sum_{j in c} p_j

(the exported layer's own term and its anchor messages, as ``cnn2gnn.export.anchor_rows`` writes them). The
fit minimises the class-balanced cross-entropy of every anchor's leave-one-out prediction (its neighbours
and hidden features found with itself left out; the trained columns fixed), with a ridge toward the prior
of an average trained class (its weight norm, bias and vote share) in standardised units. An enrolled
anchor's own feature is scored against the direction of the class's other anchors, so a handful of images
is not judged by a direction made from itself. Newton's method on three convex parameters; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from cnn2gnn.export.anchor_rows import closed_form_neighbours

# Chosen on validation images of a held-out class (digits and the larger digits set; benchmarks/enrolment.py):
# 1e-4 left the 5-image fits at the prior's accuracy, 1e-2 cost the trained classes 1-2 pt on the larger set.
FIT_RIDGE = 1e-3
NEIGHBOUR_CHUNK = 1024  # anchors whose distances to the whole bank are held at once
NEWTON_STEPS = 100


@dataclass(frozen=True)
class ClassColumn:
    """The fitted column: the last layer's weight (exported, alpha folded in), its bias, the targets' scale, and
    the leave-one-out accuracies the fit reached (the class's own anchors, None for a class of one image, which
    has no other anchor to be judged by; every other anchor; with ``ScoredSamples``, every other scored row)."""

    weight: np.ndarray
    bias: float
    target_scale: float
    loo_accuracy: float | None
    others_loo_accuracy: float


@dataclass(frozen=True)
class BankGraph:
    """Every anchor's k nearest other anchors (closed-form weights) and its features before the last layer."""

    weights: np.ndarray
    index: np.ndarray
    hidden: np.ndarray


def bank_graph(h: np.ndarray, z: np.ndarray, values: np.ndarray, layer_weights: Sequence[np.ndarray], k: int,
               eps: float) -> BankGraph:
    """The anchors' own graph (itself left out) over the bank, and each anchor's hidden features before the last
    layer: h^{l+1} = relu(h^l @ layer_weight_l + sum_j p_j values_l[j]), as the deployed model computes a query's."""
    z = z.astype(np.float64)
    sq = (z * z).sum(axis=1)
    weights, index = [], []
    for start in range(0, len(z), NEIGHBOUR_CHUNK):
        rows = slice(start, start + NEIGHBOUR_CHUNK)
        dist = sq[rows, None] + sq[None, :] - 2.0 * z[rows] @ z.T
        dist[np.arange(len(dist)), np.arange(start, start + len(dist))] = np.inf
        w, i = closed_form_neighbours(dist, k, eps)
        weights.append(w)
        index.append(i)
    w, idx = np.concatenate(weights), np.concatenate(index)
    return BankGraph(w, idx, hidden_before_last_layer(h, w, idx, values, layer_weights))


def hidden_before_last_layer(h: np.ndarray, weights: np.ndarray, index: np.ndarray, values: np.ndarray,
                             layer_weights: Sequence[np.ndarray]) -> np.ndarray:
    """The features before the last layer of samples with node features ``h`` and neighbours (``weights``,
    ``index``) among the bank whose messages are ``values``."""
    hidden, col = h.astype(np.float64), 0
    for weight in layer_weights[:-1]:
        width = weight.shape[1]
        gathered = (weights[:, :, None] * values[:, col : col + width].astype(np.float64)[index]).sum(axis=1)
        hidden = np.maximum(hidden @ weight.astype(np.float64) + gathered, 0.0)
        col += width
    return hidden


def anchor_logits(graph: BankGraph, values: np.ndarray, last_weight: np.ndarray, targets: np.ndarray,
                  label_scale: float) -> np.ndarray:
    """Every anchor's leave-one-out logits (N, C) from the bank's current columns."""
    last = values[:, values.shape[1] - last_weight.shape[1] :].astype(np.float64)
    w = graph.weights[:, :, None]
    return (graph.hidden @ last_weight.astype(np.float64) + (w * last[graph.index]).sum(axis=1)
            + label_scale * (w * targets.astype(np.float64)[graph.index]).sum(axis=1))


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _newton(loss_and_probability: Callable[[np.ndarray], tuple[float, np.ndarray]], g: np.ndarray,
            sample_weight: np.ndarray, pos: np.ndarray, prior: np.ndarray, ridge: float, theta: np.ndarray,
            free: np.ndarray) -> np.ndarray:
    """Minimise the fit's convex loss over the ``free`` parameters (the others held) by damped Newton steps."""
    loss, p = loss_and_probability(theta)
    for _ in range(NEWTON_STEPS):
        grad = g.T @ (sample_weight * (p - pos)) + ridge * (theta - prior)
        hessian = (g * (sample_weight * p * (1.0 - p))[:, None]).T @ g + ridge * np.eye(3)
        step = np.zeros(3)
        step[free] = np.linalg.solve(hessian[np.ix_(free, free)], grad[free])
        t = 1.0
        while True:  # backtracking: the loss is convex, so a short enough Newton step always lowers it
            trial, trial_p = loss_and_probability(theta - t * step)
            if trial <= loss or t < 1e-8:
                break
            t /= 2.0
        theta, loss, p = theta - t * step, trial, trial_p
        if np.abs(t * step).max() < 1e-10:
            break
    return theta


@dataclass(frozen=True)
class ScoredSamples:
    """Images the fit is scored on instead of the anchors themselves (an experiment's choice, e.g. held-out
    images for the other classes): their graph rows (neighbours among the bank, hidden features), their logits
    under the bank's current columns and their labels. Rows of class ``c`` must be anchors of ``c`` (their
    direction is left out as an anchor's is)."""

    graph: BankGraph
    logits: np.ndarray
    labels: np.ndarray


def fit_class_column(graph: BankGraph, logits: np.ndarray, labels: np.ndarray, c: int, trained: np.ndarray,
                     alpha: float, label_scale: float, trained_biases: np.ndarray, trained_weights: np.ndarray,
                     class_weight: float = 1.0, ridge: float = FIT_RIDGE,
                     samples: ScoredSamples | None = None) -> ClassColumn:
    """Fit class ``c``'s column. ``logits``: the anchors' leave-one-out logits (column ``c`` is ignored);
    ``trained``: the classes whose average is the prior (the trained ones); ``trained_weights``: the last layer's
    exported weight columns of those classes, ``trained_biases`` their biases. ``class_weight``: the class's share
    of the loss against an average class's (1: equal priors); below 1 the fit guards the other classes more.
    ``samples``: what the loss is scored on (default: every anchor, left out of its own neighbours)."""
    bank_counts = np.bincount(labels, minlength=logits.shape[1]).astype(np.float64)
    bank_pos, bank_hidden = labels == c, graph.hidden
    if samples is not None:
        graph, logits, labels = samples.graph, samples.logits, samples.labels
    hidden, w, idx = graph.hidden, graph.weights, graph.index
    pos = labels == c
    members = np.where(pos)[0]
    u = _unit(hidden[pos].mean(axis=0))
    own = hidden @ u
    for i in members if len(members) > 1 else ():  # scored against the direction of the class's other anchors
        own[i] = hidden[i] @ _unit(hidden[members[members != i]].mean(axis=0))
    single = len(members) == 1  # its direction is itself: its norm a is not fitted but kept at the prior
    feature = own + (1.0 - alpha) / alpha * (w * (bank_hidden @ u)[idx]).sum(axis=1)
    vote = label_scale * (w * bank_pos[idx]).sum(axis=1)
    g = np.stack([feature, np.ones_like(feature), vote], axis=1)
    scale = np.sqrt((g * g).mean(axis=0))
    scale[scale == 0] = 1.0
    scale[1] = 1.0
    g = g / scale
    counts = np.bincount(labels, minlength=logits.shape[1]).astype(np.float64)
    present = counts > 0
    sample_weight = 1.0 / (present.sum() * counts[labels])  # every class weighs the same in the loss ...
    sample_weight[pos] *= class_weight  # ... unless the caller weighs this one otherwise
    bank_present = bank_counts > 0
    prior = np.array([np.linalg.norm(trained_weights, axis=0).mean(), trained_biases.mean(),
                      bank_counts[trained & bank_present].mean() / max(bank_counts[c], 1)]) * scale
    others = np.delete(logits, c, axis=1)
    true_other = logits[np.arange(len(labels)), labels]

    def loss_and_probability(theta: np.ndarray) -> tuple[float, np.ndarray]:
        new = g @ theta
        top = np.maximum(others.max(axis=1), new)
        total = np.exp(others - top[:, None]).sum(axis=1) + np.exp(new - top)
        lse = top + np.log(total)
        ce = lse - np.where(pos, new, true_other)
        return float(sample_weight @ ce + 0.5 * ridge * ((theta - prior) ** 2).sum()), np.exp(new - lse)

    theta, free = prior.copy(), np.array([not single, True, True])
    while True:  # the weight norm and the vote scale stay >= 0: a vote for a class never counts against it
        theta = _newton(loss_and_probability, g, sample_weight, pos, prior, ridge, theta, free)
        negative = free & (theta < 0) & (np.arange(3) != 1)
        if not negative.any():
            break
        theta[negative], free[negative] = 0.0, False
    a, b, s = theta / scale
    full = logits.copy()
    full[:, c] = g @ theta
    correct = full.argmax(axis=1) == labels
    return ClassColumn(weight=a * u, bias=float(b), target_scale=float(s),
                       loo_accuracy=None if single else float(correct[pos].mean()),
                       others_loo_accuracy=float(correct[~pos].mean()) if (~pos).any() else 0.0)
