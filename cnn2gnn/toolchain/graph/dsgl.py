"""DSGL: the adaptive-neighbour closed form that turns distances into a sparse, row-stochastic graph.

For row i with squared distances d_i (self excluded) and d_(v) the v-th smallest, the solution of
    min_p  sum_j p_j d_j + gamma_i * sum_j p_j^2   s.t.  p >= 0, 1'p = 1
with gamma_i chosen so exactly k weights are non-zero is
    p_ij = (d_(k+1) - d_ij)_+ / (k d_(k+1) - sum_{v<=k} d_(v)).
Only TopK, Slice, Sub, ReduceSum and Div are used, so it exports to ONNX ops TensorRT accepts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import topk_size

DEFAULT_EPS = 1e-6


def squared_distances(a: Tensor, b: Tensor, b_sq: Tensor | None = None) -> Tensor:
    """||a_i - b_j||^2 as ||a||^2 + ||b||^2 - 2 a.b (a MatMul, not a cdist op), clamped at 0.

    ``b_sq`` lets a caller pass the precomputed squared norms of a constant ``b`` (the anchors).
    """
    if b_sq is None:
        b_sq = (b * b).sum(dim=1)
    a_sq = (a * a).sum(dim=1, keepdim=True)
    return (a_sq + b_sq.unsqueeze(0) - 2.0 * (a @ b.t())).clamp_min(0.0)


def adaptive_neighbours(dist: Tensor, k: int, eps: float = DEFAULT_EPS) -> tuple[Tensor, Tensor]:
    """Closed-form sparse weights: returns ``(weights, index)``, both (N, k), rows of weights sum to 1.

    ``eps`` is added to every numerator (and so k*eps to the denominator): with ties or duplicate
    samples (d_(k+1) equal to the k nearest) the row becomes uniform instead of 0/0, and otherwise
    the weights differ from the exact closed form by O(eps / spread of distances).
    """
    if dist.shape[1] < topk_size(k):
        raise Cnn2GnnError(
            f"a graph with k={k} neighbours needs at least k+1={topk_size(k)} candidates per row, got {dist.shape[1]}; "
            "lower k or use more anchors / larger batches"
        )
    values, index = torch.topk(dist, topk_size(k), dim=1, largest=False, sorted=True)
    return closed_form_weights(values, k, eps), index[:, :k]


def closed_form_weights(values: Tensor, k: int, eps: float = DEFAULT_EPS) -> Tensor:
    """The k weights of each row from its k+1 smallest distances ``values`` (N, k+1), ascending."""
    numer = values[:, k : k + 1] - values[:, :k] + eps
    return numer / numer.sum(dim=1, keepdim=True)


def dense_graph(weights: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """Scatter (N, k) neighbour weights into a dense (N, num_nodes) matrix P (batch mode only)."""
    dense = weights.new_zeros(weights.shape[0], num_nodes)
    return dense.scatter(1, index, weights)


def normalized_adjacency(p: Tensor) -> Tensor:
    """The paper's GCN operator: A = (P + P^T)/2, then D^-1/2 (A + I) D^-1/2."""
    a = 0.5 * (p + p.t()) + torch.eye(p.shape[0], dtype=p.dtype, device=p.device)
    d_inv_sqrt = a.sum(dim=1).rsqrt()
    return d_inv_sqrt[:, None] * a * d_inv_sqrt[None, :]


def aggregate(weights: Tensor, index: Tensor, features: Tensor) -> Tensor:
    """sum_j p_ij features_j over each row's k neighbours: a Gather and a weighted ReduceSum."""
    return (weights.unsqueeze(-1) * features[index]).sum(dim=1)
