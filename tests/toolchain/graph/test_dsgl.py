"""DSGL closed form against independent solvers of the per-row problem, plus its graph plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.graph.dsgl import (
    adaptive_neighbours,
    aggregate,
    dense_graph,
    normalized_adjacency,
    squared_distances,
)


def _gamma(d: np.ndarray, k: int) -> float:
    """The gamma_i that makes exactly k weights non-zero: (k d_(k+1) - sum_{v<=k} d_(v)) / 2."""
    s = np.sort(d)
    return 0.5 * (k * s[k] - s[:k].sum())


def _qp_by_bisection(d: np.ndarray, gamma: float) -> np.ndarray:
    """argmin p.d + gamma ||p||^2 on the simplex via KKT: p_j = ((eta - d_j) / (2 gamma))_+ with eta
    found by bisection on sum(p) = 1 (no sorting, no closed form)."""
    lo, hi = d.min() - 2.0 * gamma, d.min() + 2.0 * gamma  # sum(p) <= 0 at lo, >= 1 at hi
    for _ in range(200):
        eta = 0.5 * (lo + hi)
        if np.clip((eta - d) / (2.0 * gamma), 0.0, None).sum() > 1.0:
            hi = eta
        else:
            lo = eta
    return np.clip((0.5 * (lo + hi) - d) / (2.0 * gamma), 0.0, None)


def _qp_by_slsqp(d: np.ndarray, gamma: float) -> np.ndarray:
    n = len(d)
    res = minimize(
        lambda p: p @ d + gamma * p @ p,
        np.full(n, 1.0 / n),
        jac=lambda p: d + 2.0 * gamma * p,
        bounds=[(0.0, None)] * n,
        constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones_like(p)}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert res.success, res.message
    return res.x


def _dense_closed_form(d: np.ndarray, k: int, eps: float) -> np.ndarray:
    w, idx = adaptive_neighbours(torch.from_numpy(d), k, eps=eps)
    return dense_graph(w, idx, d.shape[1]).numpy()


@pytest.mark.parametrize("k", [1, 3, 7])
def test_closed_form_equals_brute_force_solution(k: int) -> None:
    rng = np.random.default_rng(k)
    d = rng.uniform(0.5, 5.0, size=(8, 12))  # spread >> eps, no ties
    dense_exact = _dense_closed_form(d, k, eps=0.0)
    dense_default = _dense_closed_form(d, k, eps=1e-6)
    for i, row in enumerate(d):
        gamma = _gamma(row, k)
        by_bisection = _qp_by_bisection(row, gamma)
        by_slsqp = _qp_by_slsqp(row, gamma)
        np.testing.assert_allclose(dense_exact[i], by_bisection, atol=1e-9)
        np.testing.assert_allclose(dense_exact[i], by_slsqp, atol=1e-4)
        np.testing.assert_allclose(dense_default[i], by_bisection, atol=1e-4)


def test_closed_form_is_the_optimum_not_just_feasible() -> None:
    """Random feasible points never beat the closed form's objective."""
    rng = np.random.default_rng(1)
    d = rng.uniform(0.0, 3.0, size=10)
    k = 4
    gamma = _gamma(d, k)
    p = _dense_closed_form(d[None, :], k, eps=0.0)[0]
    best = p @ d + gamma * p @ p
    others = rng.dirichlet(np.ones(10), size=2000)
    assert np.all(others @ d + gamma * (others * others).sum(1) >= best - 1e-12)


def test_rows_sum_to_one_with_exactly_k_nonzeros() -> None:
    torch.manual_seed(0)
    z = torch.randn(20, 6, dtype=torch.float64)
    anchors = torch.randn(30, 6, dtype=torch.float64)
    k = 5
    w, idx = adaptive_neighbours(squared_distances(z, anchors), k)
    dense = dense_graph(w, idx, 30)
    torch.testing.assert_close(dense.sum(1), torch.ones(20, dtype=torch.float64))
    assert ((dense > 0).sum(1) == k).all()
    assert (w > 0).all()
    # the non-zeros are the k nearest anchors
    nearest = torch.cdist(z, anchors).topk(k, largest=False).indices.sort(1).values
    assert torch.equal(idx.sort(1).values, nearest)


def test_identical_samples_give_uniform_finite_rows() -> None:
    z = torch.ones(6, 4)  # every distance is 0: d_(k+1) equals the k nearest, 0/0 without eps
    w, idx = adaptive_neighbours(squared_distances(z, z), 3)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(1), torch.ones(6))
    torch.testing.assert_close(w, torch.full_like(w, 1.0 / 3))


def test_tie_at_the_cutoff_stays_finite() -> None:
    # the 2nd and 3rd nearest tie (d_(k) == d_(k+1) for k=2) and two rows are duplicates
    d = torch.tensor([[0.0, 1.0, 1.0, 4.0], [0.0, 1.0, 1.0, 4.0], [2.0, 2.0, 2.0, 2.0]])
    w, _ = adaptive_neighbours(d, 2)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(1), torch.ones(3))


def test_too_few_candidates_is_a_user_error() -> None:
    with pytest.raises(Cnn2GnnError, match="k\\+1=4"):
        adaptive_neighbours(torch.rand(2, 3), 3)


def test_squared_distances_match_brute_force_and_are_non_negative() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(7, 5, dtype=torch.float64), torch.randn(9, 5, dtype=torch.float64)
    expected = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    torch.testing.assert_close(squared_distances(a, b), expected)
    torch.testing.assert_close(squared_distances(a, b, (b * b).sum(1)), expected)
    same = torch.randn(5, 64) * 100  # cancellation would make ||a||^2+||a||^2-2a.a slightly negative
    assert (squared_distances(same, same) >= 0).all()


def test_normalized_adjacency_by_hand() -> None:
    p = np.array([[0.0, 0.7, 0.3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    a = 0.5 * (p + p.T) + np.eye(3)
    deg = a.sum(1)
    expected = a / np.sqrt(deg[:, None] * deg[None, :])
    got = normalized_adjacency(torch.from_numpy(p)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got, got.T)


def test_aggregate_equals_dense_matmul() -> None:
    torch.manual_seed(0)
    w, idx = adaptive_neighbours(torch.rand(4, 10, dtype=torch.float64), 3)
    feats = torch.randn(10, 6, dtype=torch.float64)
    torch.testing.assert_close(aggregate(w, idx, feats), dense_graph(w, idx, 10) @ feats)


def test_gradients_flow_through_the_weights_to_z() -> None:
    """d(loss)/dz through the DSGL weights alone (no feature path), checked against finite differences."""
    torch.manual_seed(0)
    anchors = torch.randn(12, 4, dtype=torch.float64)
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)

    def weights_of(z_: torch.Tensor) -> torch.Tensor:
        return adaptive_neighbours(squared_distances(z_, anchors), 4, eps=0.0)[0]

    loss = (weights_of(z) * torch.randn(3, 4, dtype=torch.float64)).sum()
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().max() > 1e-6
    assert torch.autograd.gradcheck(weights_of, (z.detach().clone().requires_grad_(),), eps=1e-6, atol=1e-5)
