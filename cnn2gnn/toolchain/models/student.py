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

from typing import Any

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import topk_size
from cnn2gnn.toolchain.graph.dsgl import (
    adaptive_neighbours,
    aggregate,
    closed_form_weights,
    dense_graph,
    normalized_adjacency,
    squared_distances,
)
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.models.student_stems import NodeFeatures
from cnn2gnn.toolchain.models.unsynchronised_batchnorm import unsynchronised_batchnorm

# What an anchor hidden from a training query (anchor_dropout) is at: beyond any real distance, finite in float32.
HIDDEN_ANCHOR_DISTANCE = 1e30


def _without_self(dist: Tensor) -> Tensor:
    """Square anchor-to-anchor distances with the diagonal at +inf: an anchor is not its own neighbour."""
    return dist.masked_fill(torch.eye(dist.shape[0], dtype=torch.bool, device=dist.device), float("inf"))


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
        self._bank: Tensor | None = None  # the memory bank's stem features while training, and their age
        self._bank_candidates: Tensor | None = None
        self._bank_age = 0
        # The last training forward's own path (own_loss or contrastive > 0): its logits and its last layer's input.
        self.own_logits: Tensor | None = None
        self.own_hidden: Tensor | None = None

    # -- anchors -------------------------------------------------------------------------------
    def set_anchors(self, images: Tensor, ids: Tensor, labels: Tensor, targets: Tensor | None = None) -> None:
        """``targets`` (M, C): what the anchors carry into the messages (with a label_mode); default their
        one-hot labels."""
        if images.shape[0] != self.cfg.num_anchors:
            raise Cnn2GnnError(f"expected {self.cfg.num_anchors} anchors, got {images.shape[0]}")
        self.anchor_images.copy_(images)
        self.anchor_ids.copy_(ids)
        self.anchor_labels.copy_(labels)
        self._bank = None
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

    def invalidate_anchor_cache(self) -> None:
        """Weights changed outside training (alpha or beta set directly): recompute the anchor side."""
        self._anchor_cache = None

    def train(self, mode: bool = True) -> "CNN2GNNStudent":
        self._anchor_cache = None
        self._bank = None  # weights may change while training; recompute after
        return super().train(mode)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._anchor_cache = None
        self._bank = None
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, *args: Any, **kwargs: Any) -> "CNN2GNNStudent":
        self._anchor_cache = None
        self._bank = None  # .to(device) / .double() / .half(): the cached constants would be stale
        return super()._apply(*args, **kwargs)

    def anchor_side(self, anchor_features: Tensor | None = None, candidates: Tensor | None = None) -> dict[str, Any]:
        """The anchors' (centred) projections, their squared norms and mean, the per-layer messages
        W_l H^l_a (plus E Y_a in layer 1 with a label embedding), their input to the last layer (``hidden``),
        and ``values``: everything a sample
        aggregates from its anchors in one [M, hidden_1 + ... + C] tensor, columns per layer,
        (1 - alpha) * messages_l, and in the last layer also + beta * Y_a (label propagation). One
        gather of it serves every layer.

        The anchors' hidden features come from their own graph (self excluded); an anchor's own term
        does not see its label (as a query does not). In eval mode the result is cached: these are
        the constants an exported model stores. ``candidates`` (M, k+1): each anchor's nearest other anchors,
        found without gradient (the memory bank); only their distances are then computed, O(M k) not O(M^2).
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
        if candidates is None:
            w, idx = adaptive_neighbours(_without_self(squared_distances(z, z, z_sq)), cfg.k, cfg.eps)
        else:
            values, order = ((z[:, None, :] - z[candidates]) ** 2).sum(dim=-1).sort(dim=1)
            w, idx = closed_form_weights(values, cfg.k, cfg.eps), candidates.gather(1, order)[:, : cfg.k]
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
        # hidden: the anchors' input to the last layer (what the exported novelty compares an image's with)
        out = {"z": z, "z_sq": z_sq, "center": center, "messages": messages, "values": values, "hidden": h}
        if self.training and cfg.exclude_two_hop_self and len(self.gcn) == 2:  # what _two_hop_excluded needs
            out.update(graph_w=w, graph_idx=idx, own1=own_transforms[0])
        if not self.training:
            self._anchor_cache = {name: ([m.detach() for m in v] if isinstance(v, list) else v.detach())
                                  for name, v in out.items()}
            return self._anchor_cache
        return out

    # -- forward -------------------------------------------------------------------------------
    def forward(self, x: Tensor, sample_ids: Tensor | None = None) -> Tensor:
        self.own_logits = self.own_hidden = None  # only this forward's own path counts (set again below if trained)
        if self.cfg.graph_mode == "batch":
            return self._forward_batch(x)
        return self._forward_anchor(x, sample_ids)

    def neighbours(self, x: Tensor, sample_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(weights, anchor index) of each sample's k anchor neighbours (anchor mode)."""
        return self.neighbours_of_features(self.features(x), sample_ids)

    def neighbours_of_features(self, h: Tensor, sample_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`neighbours` from node features ``h`` that a caller already has."""
        anchors = self.anchor_side()
        z = self.projection(h) - anchors["center"]
        dist = squared_distances(z, anchors["z"], anchors["z_sq"])
        if sample_ids is not None:
            dist = dist.masked_fill(sample_ids[:, None] == self.anchor_ids[None, :], float("inf"))
        return adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)

    def _forward_anchor(self, x: Tensor, sample_ids: Tensor | None) -> Tensor:
        if self.training and self.cfg.anchor_features == "memory":
            # The bank's features carry no gradient; the projection and GCN weights still learn from the
            # anchor side (their inputs are constants, they are not). In train mode BatchNorm normalises
            # the bank with its own statistics, as it normalises a batch of queries with theirs.
            anchors = self.anchor_side(*self._memory_bank())
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
        if self.training and self.cfg.anchor_dropout > 0:
            # Finite, so a row left with fewer than k+1 anchors (a small bank) gets uniform weights, not 0/0;
            # float32, where it is finite even if autocast computed the distances in float16.
            dist = dist.float().masked_fill(torch.rand_like(dist) < self.cfg.anchor_dropout, HIDDEN_ANCHOR_DISTANCE)
        w, idx = adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)
        gathered = aggregate(w, idx, anchors["values"])  # one gather for all layers
        if self.training and sample_ids is not None and "graph_w" in anchors:
            gathered = self._two_hop_excluded(gathered, anchors, w, idx, sample_ids)
        if self._trains_own_path():
            self.own_logits = self._own_path(h)
        return self.gcn_with_neighbours(h, gathered)

    def gcn_with_neighbours(self, h: Tensor, gathered: Tensor) -> Tensor:
        """The GCN's layers on node features ``h``, each adding what the sample gathered from its anchors
        (``gathered``: sum_j p_ij values_j, the columns of every layer side by side)."""
        alpha, start = self.alpha, 0
        for layer_i, layer in enumerate(self.gcn):
            width = layer.out_features
            h = alpha * layer(h) + gathered[:, start : start + width]
            start += width
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(h))
        return h

    def _trains_own_path(self) -> bool:
        return self.training and (self.cfg.own_loss > 0 or self.cfg.contrastive > 0)

    def _own_path(self, h: Tensor) -> Tensor:
        """The GCN's layers on a sample's own features alone: a classifier without neighbours (same weights).
        Leaves the last layer's input in ``own_hidden``."""
        self.own_hidden = h
        for layer_i, layer in enumerate(self.gcn):
            h = layer(h)
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(h))
                self.own_hidden = h
        return h

    def _memory_bank(self) -> tuple[Tensor, Tensor]:
        """The bank's stem features and each anchor's k+1 nearest other anchors, as of the last refresh."""
        if self._bank is None or self._bank_candidates is None or self._bank_age >= self.cfg.bank_refresh:
            with torch.no_grad():
                with unsynchronised_batchnorm(self.features):
                    self._bank = self.features(self.anchor_images)
                z = self.projection(self._bank)
                z = z - z.mean(dim=0)
                dist = _without_self(squared_distances(z, z))
                self._bank_candidates = dist.topk(topk_size(self.cfg.k), dim=1, largest=False).indices
            self._bank_age = 0
        self._bank_age += 1
        return self._bank, self._bank_candidates

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
        if self._trains_own_path():
            self.own_logits = self._own_path(h)
        z = self.projection(h)
        dist = _without_self(squared_distances(z, z))
        w, idx = adaptive_neighbours(dist, self.cfg.k, self.cfg.eps)
        a_hat = normalized_adjacency(dense_graph(w, idx, n))
        for layer_i, layer in enumerate(self.gcn):
            h = a_hat @ layer(h)
            if layer_i < len(self.gcn) - 1:
                h = self.dropout(torch.relu(h))
        return h
