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

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from types import MethodType
from typing import Any, Iterator

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

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
from cnn2gnn.toolchain.models.student_stems import STEMS, NodeFeatures

# How the anchors' labels enter the messages (anchor mode): "none"; "lp", a label-propagation term in
# the last layer, logits += beta * sum_j p_ij Y_j; "embed", a label embedding E Y_j added to the anchors'
# layer-1 messages; "both".
LABEL_MODES = ("none", "lp", "embed", "both")
# What Y_j is: the anchors' one-hot labels, or the teacher's softmax on them (set by the distiller).
LABEL_TARGETS = ("onehot", "teacher")
# How training computes the anchors' node features each step: "live", through the stem with gradients
# (every anchor is then trained at every step, M/B times as often as any other image, and the stem
# memorises the bank); "memory", a memory bank of the current stem's features computed without gradient,
# so an anchor is trained only when it comes round as a query, once per epoch like every other image.
ANCHOR_FEATURES = ("live", "memory")
# Upper bounds that only catch typos (an extra zero or two); real students stay far below them.
MAX_CLASSES = 100_000
MAX_ANCHORS = 1_000_000
MAX_WIDTH = 65_536
MAX_LAYERS = 64
MAX_STEM_BLOCKS = 4
MAX_LABEL_SCALE = 1e4


@dataclass
class StudentConfig:
    in_channels: int
    height: int
    width: int
    num_classes: int
    # The defaults are the measured configuration (benchmarks/report.py, docs/benchmarks.md): a learned conv
    # stem, anchors carrying the teacher's soft labels (label propagation), up to 1024 anchors held as a
    # memory bank while training. `cnn2gnn distill` uses the same defaults.
    k: int = 10
    num_anchors: int = 1024
    anchor_selection: str = "class-balanced"
    proj_dim: int = 32
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.2
    graph_mode: str = "anchor"
    alpha: float = 0.5
    learn_alpha: bool = True
    stem: str = "conv"
    patch_size: int = 4
    stem_dim: int = 16
    stem_widths: list[int] = field(default_factory=lambda: [16, 32, 32])
    label_mode: str = "lp"
    label_targets: str = "teacher"
    label_scale: float = 4.0
    learn_label_scale: bool = True
    # Training only (2-layer anchor mode): a training sample that is an anchor reaches itself in two hops
    # (its neighbour j's hidden features aggregate j's own anchor neighbours, which may include the
    # sample). Remove that term (leave-one-out, p_ji dropped and the rest renormalised) so training sees
    # the graph a new image sees at deployment.
    exclude_two_hop_self: bool = False  # measured: no gain on digits (g_none_joint); off by default
    anchor_features: str = "memory"
    eps: float = DEFAULT_EPS

    def __post_init__(self) -> None:
        _ = self.graph  # validates mode, k (TensorRT's TopK limit) and M now, not at export after training
        self.stem_widths = list(self.stem_widths)
        if self.label_mode not in LABEL_MODES:
            raise Cnn2GnnError(
                f"label_mode (--label-mode) {self.label_mode!r} unknown; use one of {' | '.join(LABEL_MODES)}"
            )
        if self.anchor_features not in ANCHOR_FEATURES:
            raise Cnn2GnnError(
                f"anchor_features (--anchor-features) {self.anchor_features!r} unknown; use one of "
                f"{' | '.join(ANCHOR_FEATURES)}"
            )
        if self.label_targets not in LABEL_TARGETS:
            raise Cnn2GnnError(
                f"label_targets (--label-targets) {self.label_targets!r} unknown; use one of {' | '.join(LABEL_TARGETS)}"
            )
        if self.label_mode != "none" and self.graph_mode != "anchor":
            raise Cnn2GnnError(
                f"label_mode (--label-mode) {self.label_mode!r} needs the anchor graph mode (the batch graph has "
                "no labelled anchors); use --graph-mode anchor or --label-mode none"
            )
        require_float_in("label_scale (--label-scale)", self.label_scale, 0.0, MAX_LABEL_SCALE, low_open=True)
        if self.stem == "conv":
            require_int_in("number of stem_widths (--stem-widths)", len(self.stem_widths), 1, MAX_STEM_BLOCKS)
            for stem_width in self.stem_widths:
                require_int_in("each of stem_widths (--stem-widths)", stem_width, 1, MAX_WIDTH)
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


@contextmanager
def _unsynchronised_batchnorm(module: nn.Module) -> Iterator[None]:
    """Plain BatchNorm inside ``module`` for a while, where a distributed run made it synchronised.

    Every rank holds the same anchor bank, so the bank's own statistics are already the one-process ones;
    synchronising them would count each anchor once per rank and shift the running variance's n/(n-1).
    """
    synced = [m for m in module.modules()
              if isinstance(m, _BatchNorm) and type(m).forward is not _BatchNorm.forward]
    for m in synced:
        m.forward = MethodType(_BatchNorm.forward, m)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in synced:
            del m.forward


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
        uses_lp = cfg.label_mode in ("lp", "both")
        uses_embed = cfg.label_mode in ("embed", "both")
        # Y: what each anchor carries into the messages (one-hot labels or the teacher's soft labels),
        # a named buffer of its own so the bank can be edited (enrolment) without retraining. Label
        # state exists only when label_mode uses it, so a label-free student has no tensors it ignores.
        self.anchor_targets: Tensor | None
        self.register_buffer("anchor_targets", torch.zeros(m, cfg.num_classes) if cfg.label_mode != "none" else None)
        # beta = exp(label_log_scale): a log-parameter moves multiplicatively (Adam's step is ~lr in the
        # parameter, so a raw beta barely moves from its init); AdamW's decay pulls it toward beta = 1, not 0.
        self.label_log_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(cfg.label_scale)))),
                                            requires_grad=cfg.learn_label_scale) if uses_lp else None
        self.label_embedding = nn.Linear(cfg.num_classes, widths[1], bias=False) if uses_embed else None
        self._anchor_cache: dict[str, Any] | None = None

    # -- anchors -------------------------------------------------------------------------------
    def set_anchors(self, images: Tensor, ids: Tensor, labels: Tensor, targets: Tensor | None = None) -> None:
        """``targets`` (M, C): what the anchors carry into the messages (with a label_mode); default their
        one-hot labels."""
        if images.shape[0] != self.cfg.num_anchors:
            raise Cnn2GnnError(f"expected {self.cfg.num_anchors} anchors, got {images.shape[0]}")
        self.anchor_images.copy_(images)
        self.anchor_ids.copy_(ids)
        self.anchor_labels.copy_(labels)
        if self.anchor_targets is not None:
            if targets is None:
                targets = torch.nn.functional.one_hot(labels.long().clamp_min(0), self.cfg.num_classes).float()
            self.anchor_targets.copy_(targets)
        self._anchor_cache = None

    @property
    def alpha(self) -> Tensor:
        return torch.sigmoid(self.alpha_logit)

    @property
    def label_scale(self) -> Tensor:
        """beta of the label-propagation term (0 without one)."""
        if self.label_log_scale is not None:
            return self.label_log_scale.exp()
        return torch.zeros((), dtype=self.alpha_logit.dtype, device=self.alpha_logit.device)

    def train(self, mode: bool = True) -> "CNN2GNNStudent":
        self._anchor_cache = None  # weights may change while training; recompute after
        return super().train(mode)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._anchor_cache = None
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, *args: Any, **kwargs: Any) -> "CNN2GNNStudent":
        self._anchor_cache = None  # .to(device) / .double() / .half(): the cached constants would be stale
        return super()._apply(*args, **kwargs)

    def anchor_side(self, anchor_features: Tensor | None = None) -> dict[str, Any]:
        """The anchors' (centred) projections, their squared norms and mean, the per-layer messages
        W_l H^l_a (plus E Y_a in layer 1 with a label embedding), and ``values``: everything a sample
        aggregates from its anchors in one [M, hidden_1 + ... + C] tensor, columns per layer,
        (1 - alpha) * messages_l, and in the last layer also + beta * Y_a (label propagation). One
        gather of it serves every layer.

        The anchors' hidden features come from their own graph (self excluded); an anchor's own term
        does not see its label (as a query does not). In eval mode the result is cached: these are
        the constants an exported model stores.
        """
        if not self.training and self._anchor_cache is not None:
            return self._anchor_cache
        cfg = self.cfg
        h = self.features(self.anchor_images) if anchor_features is None else anchor_features
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
        messages, own_transforms = [], []
        for layer_i, layer in enumerate(self.gcn):
            own = layer(h)
            own_transforms.append(own)
            msg = own
            if layer_i == 0 and self.label_embedding is not None and len(self.gcn) > 1:
                msg = own + self.label_embedding(self.anchor_targets)
            messages.append(msg)
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(_mix(alpha, own, aggregate(w, idx, msg))))
        parts = [(1.0 - alpha) * m for m in messages]
        if self.cfg.label_mode in ("lp", "both"):
            parts[-1] = parts[-1] + self.label_scale * self.anchor_targets
        values = torch.cat(parts, dim=1)
        out = {"z": z, "z_sq": z_sq, "center": center, "messages": messages, "values": values}
        if self.training and cfg.exclude_two_hop_self and len(self.gcn) == 2:  # what _two_hop_excluded needs
            out.update(graph_w=w, graph_idx=idx, own1=own_transforms[0])
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
        if self.training and self.cfg.anchor_features == "memory":
            # The bank's features carry no gradient; the projection and GCN weights still learn from the
            # anchor side (their inputs are constants, they are not). In train mode BatchNorm normalises
            # the bank with its own statistics, as it normalises a batch of queries with theirs.
            with torch.no_grad(), _unsynchronised_batchnorm(self.features):
                bank = self.features(self.anchor_images)
            anchors = self.anchor_side(bank)
            h = self.features(x)
        elif self.training and self.cfg.stem == "conv":
            # One stem pass over [batch; anchors]: BatchNorm then normalises queries and anchors with the
            # same statistics (as its running statistics do in eval mode), so training distances are
            # not taken between two differently normalised spaces.
            both = self.features(torch.cat([x, self.anchor_images]))
            h, anchors = both[: len(x)], self.anchor_side(both[len(x) :])
        else:
            anchors = self.anchor_side()
            h = self.features(x)
        z = self.projection(h) - anchors["center"]
        dist = squared_distances(z, anchors["z"], anchors["z_sq"])
        if sample_ids is not None and self.training:
            dist = dist.masked_fill(sample_ids[:, None] == self.anchor_ids[None, :], float("inf"))
        w, idx = adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)
        alpha = self.alpha
        gathered = aggregate(w, idx, anchors["values"])  # one gather for all layers
        if self.training and sample_ids is not None and "graph_w" in anchors:
            gathered = self._two_hop_excluded(gathered, anchors, w, idx, sample_ids)
        start = 0
        for layer_i, layer in enumerate(self.gcn):
            width = layer.out_features
            h = alpha * layer(h) + gathered[:, start : start + width]
            start += width
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(h))
        return h

    def _two_hop_excluded(self, gathered: Tensor, anchors: dict[str, Any], w: Tensor, idx: Tensor,
                          sample_ids: Tensor) -> Tensor:
        """Layer-2 aggregation recomputed with each neighbour's hidden features leaving the sample out."""
        alpha, hidden = self.alpha, self.gcn[0].out_features
        is_anchor = sample_ids[:, None] == self.anchor_ids[None, :]  # (B, M)
        pos = torch.where(is_anchor.any(dim=1), is_anchor.float().argmax(dim=1), torch.full_like(sample_ids, -1))
        gw, gidx = anchors["graph_w"][idx], anchors["graph_idx"][idx]  # (B, k, k): neighbours' neighbours
        p_back = (gw * (gidx == pos[:, None, None])).sum(dim=2, keepdim=True)  # p_ji, (B, k, 1)
        msg1 = anchors["messages"][0]
        own_msg = msg1[pos.clamp_min(0)][:, None, :]  # (B, 1, H)
        agg1 = aggregate(anchors["graph_w"], anchors["graph_idx"], msg1)[idx]  # (B, k, H)
        agg1 = (agg1 - p_back * own_msg) / (1.0 - p_back).clamp_min(1e-6)
        h = self.dropout(torch.relu(_mix(alpha, anchors["own1"][idx], agg1)))
        values2 = (1.0 - alpha) * self.gcn[1](h)
        if self.cfg.label_mode in ("lp", "both"):
            values2 = values2 + self.label_scale * self.anchor_targets[idx]
        layer2 = (w.unsqueeze(-1) * values2).sum(dim=1)
        return torch.cat([gathered[:, :hidden], layer2], dim=1)

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
