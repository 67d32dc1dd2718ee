"""The CNN2GNN student: node features -> DSGL sparse graph -> a GCN of (by default) two layers.

Two graph modes (see docs/method.md):
- ``anchor`` (deployment default): each sample is linked only to a stored bank of M training
  anchors. Layer l mixes the sample's own transform with its neighbours' anchor-side transforms,
  h_i = alpha * W x_i + (1 - alpha) * sum_j p_ij W a_j, and the anchors' own hidden features come
  from the anchors' graph among themselves, so after training they are constants. A prediction
  never depends on the rest of its batch.
- ``batch`` (the paper's): the graph is learned over the mini-batch, symmetrised, self loops added,
  and normalised; a prediction depends on which samples share the batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import GraphSpec
from cnn2gnn.contracts.preprocessing import MAX_IMAGE_SIDE
from cnn2gnn.contracts.setting_ranges import require_float_in, require_int_in
from cnn2gnn.toolchain.graph.dsgl import (
    DEFAULT_EPS,
    adaptive_neighbours,
    aggregate,
    dense_graph,
    normalized_adjacency,
    squared_distances,
)

STEMS = ("none", "patch")
# Upper bounds that only catch typos (an extra zero or two); real students stay far below them.
MAX_CLASSES = 100_000
MAX_ANCHORS = 1_000_000
MAX_WIDTH = 65_536
MAX_LAYERS = 64


@dataclass
class StudentConfig:
    in_channels: int
    height: int
    width: int
    num_classes: int
    k: int = 10
    num_anchors: int = 512
    anchor_selection: str = "class-balanced"
    proj_dim: int = 64
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2
    graph_mode: str = "anchor"
    alpha: float = 0.5
    learn_alpha: bool = True
    stem: str = "none"
    patch_size: int = 4
    stem_dim: int = 16
    eps: float = DEFAULT_EPS

    def __post_init__(self) -> None:
        _ = self.graph  # validates mode, k (TensorRT's TopK limit) and M now, not at export after training
        if self.stem not in STEMS:
            raise Cnn2GnnError(f"stem {self.stem!r} unknown; use one of {STEMS}")
        for name, value in (("height", self.height), ("width", self.width)):
            require_int_in(f"image {name} (--image-size)", value, 1, MAX_IMAGE_SIDE)
        require_int_in("in_channels", self.in_channels, 1, 3)
        require_int_in("num_classes", self.num_classes, 2, MAX_CLASSES)
        require_int_in("num_anchors (--anchors)", self.num_anchors, 1, MAX_ANCHORS)
        require_int_in("proj_dim (--proj-dim)", self.proj_dim, 1, MAX_WIDTH)
        require_int_in("hidden (--hidden)", self.hidden, 1, MAX_WIDTH)
        require_int_in("layers (--layers)", self.layers, 1, MAX_LAYERS)
        require_float_in("dropout (--dropout)", self.dropout, 0.0, 1.0, high_open=True)
        require_float_in("alpha (--alpha)", self.alpha, 0.0, 1.0)
        patch_limit = min(self.height, self.width) if self.stem == "patch" else MAX_IMAGE_SIDE
        require_int_in("patch_size (--patch-size)", self.patch_size, 1, patch_limit)
        require_int_in("stem_dim", self.stem_dim, 1, MAX_WIDTH)
        require_float_in("eps", self.eps, 0.0, 1.0, low_open=True)
        if self.stem == "patch" and (self.height % self.patch_size or self.width % self.patch_size):
            raise Cnn2GnnError(
                f"patch size {self.patch_size} must divide the image size {self.height}x{self.width}"
            )

    @property
    def graph(self) -> GraphSpec:
        return GraphSpec(mode=self.graph_mode, k=self.k, num_anchors=self.num_anchors)

    def to_dict(self) -> dict[str, Any]:
        return {"family": "cnn2gnn-student", **asdict(self)}


class NodeFeatures(nn.Module):
    """Image -> node feature vector: the flattened image, or a light patch-embedding stem."""

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        if cfg.stem == "patch":
            self.stem: nn.Module = nn.Sequential(
                nn.Conv2d(cfg.in_channels, cfg.stem_dim, cfg.patch_size, stride=cfg.patch_size), nn.ReLU()
            )
            self.dim = cfg.stem_dim * (cfg.height // cfg.patch_size) * (cfg.width // cfg.patch_size)
        else:
            self.stem = nn.Identity()
            self.dim = cfg.in_channels * cfg.height * cfg.width

    def forward(self, x: Tensor) -> Tensor:
        return self.stem(x).flatten(1)


def _mix(alpha: Tensor, own: Tensor, neighbours: Tensor) -> Tensor:
    return alpha * own + (1.0 - alpha) * neighbours


class CNN2GNNStudent(nn.Module):
    """DSGL head + GCN. ``forward(x, sample_ids)``: ``sample_ids`` (training only) are the samples'
    indices in the training split, so a training sample that is itself an anchor is not its own
    neighbour (train and deploy then see the same kind of graph)."""

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = NodeFeatures(cfg)
        self.projection = nn.Linear(self.features.dim, cfg.proj_dim)
        widths = [self.features.dim] + [cfg.hidden] * (cfg.layers - 1) + [cfg.num_classes]
        self.gcn = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(cfg.layers))
        self.dropout = nn.Dropout(cfg.dropout)
        logit = torch.logit(torch.tensor(min(max(cfg.alpha, 1e-4), 1 - 1e-4)))
        self.alpha_logit = nn.Parameter(logit, requires_grad=cfg.learn_alpha)
        m = cfg.num_anchors
        self.register_buffer("anchor_images", torch.zeros(m, cfg.in_channels, cfg.height, cfg.width))
        self.register_buffer("anchor_ids", torch.full((m,), -1, dtype=torch.long))
        self.register_buffer("anchor_labels", torch.full((m,), -1, dtype=torch.long))
        self._anchor_cache: dict[str, Any] | None = None

    # -- anchors -------------------------------------------------------------------------------
    def set_anchors(self, images: Tensor, ids: Tensor, labels: Tensor) -> None:
        if images.shape[0] != self.cfg.num_anchors:
            raise Cnn2GnnError(f"expected {self.cfg.num_anchors} anchors, got {images.shape[0]}")
        self.anchor_images.copy_(images)
        self.anchor_ids.copy_(ids)
        self.anchor_labels.copy_(labels)
        self._anchor_cache = None

    @property
    def alpha(self) -> Tensor:
        return torch.sigmoid(self.alpha_logit)

    def train(self, mode: bool = True) -> "CNN2GNNStudent":
        self._anchor_cache = None  # weights may change while training; recompute after
        return super().train(mode)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._anchor_cache = None
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, *args: Any, **kwargs: Any) -> "CNN2GNNStudent":
        self._anchor_cache = None  # .to(device) / .double() / .half(): the cached constants would be stale
        return super()._apply(*args, **kwargs)

    def anchor_side(self) -> dict[str, Any]:
        """The anchors' (centred) projections, their squared norms and mean, and the per-layer
        messages W_l H^l_a.

        The anchors' hidden features come from their own graph (self excluded). In eval mode the
        result is cached: these are the constants an exported model stores.
        """
        if not self.training and self._anchor_cache is not None:
            return self._anchor_cache
        cfg = self.cfg
        h = self.features(self.anchor_images)
        z = self.projection(h)
        # Distances are shift-invariant; centring on the anchors' mean keeps ||z||^2 near the scale of
        # the distances themselves, so ||a||^2 + ||b||^2 - 2ab does not cancel away float32 precision.
        center = z.mean(dim=0)
        z = z - center
        z_sq = (z * z).sum(dim=1)
        dist = squared_distances(z, z, z_sq)
        dist = dist.masked_fill(torch.eye(dist.shape[0], dtype=torch.bool, device=dist.device), float("inf"))
        w, idx = adaptive_neighbours(dist, cfg.k, cfg.eps)
        alpha = self.alpha
        messages = []
        for layer_i, layer in enumerate(self.gcn):
            msg = layer(h)
            messages.append(msg)
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(_mix(alpha, msg, aggregate(w, idx, msg))))
        out = {"z": z, "z_sq": z_sq, "center": center, "messages": messages}
        if not self.training:
            self._anchor_cache = {name: ([m.detach() for m in v] if isinstance(v, list) else v.detach())
                                  for name, v in out.items()}
            return self._anchor_cache
        return out

    # -- forward -------------------------------------------------------------------------------
    def forward(self, x: Tensor, sample_ids: Tensor | None = None) -> Tensor:
        if self.cfg.graph_mode == "batch":
            return self._forward_batch(x)
        return self._forward_anchor(x, sample_ids)

    def neighbours(self, x: Tensor, sample_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(weights, anchor index) of each sample's k anchor neighbours (anchor mode)."""
        anchors = self.anchor_side()
        z = self.projection(self.features(x)) - anchors["center"]
        dist = squared_distances(z, anchors["z"], anchors["z_sq"])
        if sample_ids is not None:
            dist = dist.masked_fill(sample_ids[:, None] == self.anchor_ids[None, :], float("inf"))
        return adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)

    def _forward_anchor(self, x: Tensor, sample_ids: Tensor | None) -> Tensor:
        anchors = self.anchor_side()
        h = self.features(x)
        z = self.projection(h) - anchors["center"]
        dist = squared_distances(z, anchors["z"], anchors["z_sq"])
        if sample_ids is not None and self.training:
            dist = dist.masked_fill(sample_ids[:, None] == self.anchor_ids[None, :], float("inf"))
        w, idx = adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)
        alpha = self.alpha
        for layer_i, layer in enumerate(self.gcn):
            h = _mix(alpha, layer(h), aggregate(w, idx, anchors["messages"][layer_i]))
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(h))
        return h

    def _forward_batch(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if n < self.cfg.graph.min_nodes:
            raise Cnn2GnnError(
                f"batch graph mode with k={self.cfg.k} needs at least {self.cfg.graph.min_nodes} samples per batch, "
                f"got {n}; "
                "use a larger batch or the anchor graph mode"
            )
        h = self.features(x)
        z = self.projection(h)
        dist = squared_distances(z, z)
        dist = dist.masked_fill(torch.eye(n, dtype=torch.bool, device=x.device), float("inf"))
        w, idx = adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)
        a_hat = normalized_adjacency(dense_graph(w, idx, n))
        for layer_i, layer in enumerate(self.gcn):
            h = a_hat @ layer(h)
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(h))
        return h
