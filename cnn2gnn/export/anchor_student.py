"""The anchor-mode student as an export-friendly module: the eval-mode anchor side frozen into buffers.

``CNN2GNNStudent`` in eval mode caches its anchor side (projections z_a, their squared norms, the
per-layer messages W_l H^l_a and the values a sample gathers from them) in a Python dict, which an
exporter cannot see as weights. This wrapper registers those tensors as buffers, so they become ONNX
initializers, and runs the same DSGL functions the student does: the exported graph is the eval-mode
computation with the anchors' own graph (an M x M TopK) already evaluated. Dropout is absent because
eval mode makes it the identity.

Two numerical choices, both exact in real arithmetic:
- the anchor side is computed once in float64 and rounded to float32, instead of inheriting float32
  round-off from the M x M anchor graph;
- projections are centred on the anchors' mean (the student does this too; here the centre is
  folded into the projection bias). Distances are translation-invariant, but ||z||^2 + ||a||^2 - 2 z.a
  cancels badly in float32 when the norms (~600 on digits) dwarf the neighbour distances (~15-40):
  centring cuts the logit error against
  float64 from ~1.7e-4 to ~1e-5 and makes the result the same at every batch size.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.anchor_bank import EXTRA_OUTPUTS
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import topk_size
from cnn2gnn.toolchain.graph.dsgl import aggregate, closed_form_weights
from cnn2gnn.toolchain.models.student import CNN2GNNStudent

# A norm below this (every feature 0 after the ReLU) would divide by ~0; such a vector's cosines are then 0.
MIN_NORM = 1e-12


class AnchorStudentForExport(nn.Module):
    """``forward(images) -> logits`` (or ``(logits, neighbour_index, neighbour_weight, novelty)`` with
    ``neighbour_outputs``; the index is int32) for one anchor-mode student; the result never depends on the batch.

    Stored constants (ONNX initializers), all float32, named so a tool can edit the bank
    (cnn2gnn.contracts.anchor_bank):
    - ``anchor_dist_weight`` = -2 z_a^T (P x M) and ``anchor_z_sq`` = ||z_a||^2 (M): the distance to
      every anchor up to the sample's own ||z||^2, one Gemm. Dropping ||z||^2 (a per-row
      constant) changes neither the TopK order nor the closed-form weights, which use only
      differences of a row's distances;
    - ``anchor_values`` (M x (hidden_1 + ... + C)): the learned messages a sample aggregates from its
      anchors in every layer, (1 - alpha) W_l H^l_a, so ONE Gather + weighted sum serves every layer;
    - with a label-propagation term (label_mode lp / both): ``anchor_targets`` (M x C, the labels or
      soft labels Y_a) and ``label_scale`` (beta), a second Gather: logits += beta * sum_j p_ij Y_j;
    - alpha is folded into the layers' own-path weights (``layer_weight_l`` = (alpha W_l)^T) and their
      biases into ``anchor_values`` (the weights p_ij of a row sum to 1), so each layer is one Gemm;
    - with ``neighbour_outputs``: ``anchor_hidden`` (H x M), the anchors' L2-normalised input to the last layer
      (their own graph's, as ``anchor_values`` is), for ``novelty``: one MatMul and a ReduceMax.
    ``anchor_z`` (the centred anchor projections) stays a buffer for neighbour look-ups but is not
    needed by ``forward``. :meth:`bank_record` is what enrolment needs besides the constants.
    """

    anchor_z: Tensor
    anchor_z_sq: Tensor
    anchor_dist_weight: Tensor
    anchor_values: Tensor
    anchor_targets: Tensor | None
    label_scale: Tensor | None
    anchor_hidden: Tensor | None

    def __init__(self, student: CNN2GNNStudent, neighbour_outputs: bool = False) -> None:
        super().__init__()
        cfg = student.cfg
        graph = cfg.graph  # its k already fits TensorRT's TopK: GraphSpec checked it when the config was made
        if graph.mode != "anchor":
            raise Cnn2GnnError(
                f"a {graph.mode}-mode student cannot be exported for deployment: its prediction for an image "
                "depends on the other images in the batch (and a batch of one has no neighbours). "
                "Distil an anchor-mode student (`cnn2gnn distill --graph-mode anchor`) and export that"
            )
        exact = copy.deepcopy(student).double().eval()  # eval() also drops any float32 anchor cache
        with torch.no_grad():
            anchors = exact.anchor_side()
            anchor_z = anchors["z"]  # already centred on the anchors' mean projection
            self.projection = copy.deepcopy(student.projection)
            self.projection.bias.copy_((exact.projection.bias - anchors["center"]).float())
            alpha = exact.alpha
            # The message part only: the label term stays in anchor_targets / label_scale of its own.
            values = torch.cat([(1.0 - alpha) * m for m in anchors["messages"]], dim=1)
            start, layer_bias = 0, []
            for layer_i, layer in enumerate(exact.gcn):
                # alpha * (W h + b) + sum_j p_ij v_j  ==  h (alpha W)^T + sum_j p_ij (v_j + alpha b): the rows
                # of p sum to 1, so the bias rides in the anchor values and each layer is ONE Gemm
                # whose addend is the gathered slice.
                width = layer.out_features
                values[:, start : start + width] += alpha * layer.bias
                layer_bias.append(layer.bias.tolist())
                self.register_buffer(f"layer_weight_{layer_i}", (alpha * layer.weight).t().float().contiguous())
                start += width
            uses_lp = cfg.label_mode in ("lp", "both")
            self.register_buffer("anchor_targets", exact.anchor_targets.float().contiguous() if uses_lp else None)
            self.register_buffer("label_scale", exact.label_scale.float().reshape(()) if uses_lp else None)
            hidden = anchors["hidden"]
            unit = hidden / hidden.norm(dim=1, keepdim=True).clamp_min(MIN_NORM)
            self.register_buffer("anchor_hidden", unit.t().float().contiguous() if neighbour_outputs else None)
            embedding = exact.label_embedding
            self._record: dict[str, Any] = {
                "label_mode": cfg.label_mode, "label_targets": cfg.label_targets, "eps": cfg.eps,
                "alpha": float(alpha), "layer_bias": layer_bias,
                "label_embedding": embedding.weight.tolist() if embedding is not None and len(exact.gcn) > 1 else None,
                "anchor_labels": [int(v) for v in student.anchor_labels.tolist()],
                "anchor_ids": [int(v) for v in student.anchor_ids.tolist()],
            }
        self.features = student.features
        self.k = graph.k
        self.eps = cfg.eps
        self.neighbour_outputs = neighbour_outputs
        self.widths = [layer.out_features for layer in student.gcn]
        self.register_buffer("anchor_z", anchor_z.float())
        self.register_buffer("anchor_z_sq", (anchor_z * anchor_z).sum(dim=1).float())
        self.register_buffer("anchor_dist_weight", (-2.0 * anchor_z.t()).float().contiguous())
        self.register_buffer("anchor_values", values.float().contiguous())
        self.eval()

    @property
    def output_names(self) -> list[str]:
        """The graph outputs after ``logits``."""
        return list(EXTRA_OUTPUTS) if self.neighbour_outputs else []

    def bank_record(self) -> dict[str, Any]:
        """What rebuilding a new anchor's rows needs besides the constants (float64 where it matters):
        alpha, each layer's bias b_l, the label embedding E (label_mode embed / both), and the anchors'
        labels and training-split ids."""
        return {**self._record, "size": int(self.anchor_values.shape[0]), "outputs": self.output_names}

    def distances(self, images: Tensor) -> Tensor:
        """||z - z_a||^2 - ||z||^2 for every anchor: ranks and weights anchors as the full distance does."""
        z = self.projection(self.features(images))
        return torch.addmm(self.anchor_z_sq, z, self.anchor_dist_weight)

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, Tensor, Tensor, Tensor]:
        h = self.features(images)
        z = self.projection(h)
        dist = torch.addmm(self.anchor_z_sq, z, self.anchor_dist_weight)  # one Gemm
        nearest, index = torch.topk(dist, topk_size(self.k), dim=1, largest=False, sorted=True)
        # int32 from here on (one Cast after TopK's Slice): the ``neighbour_index`` output, which TensorRT 8.x
        # could not output as int64, and the indices of every Gather below, which both ONNX and TensorRT take.
        weights, index = closed_form_weights(nearest, self.k, self.eps), index[:, : self.k].to(torch.int32)
        gathered = aggregate(weights, index, self.anchor_values)  # one Gather for every layer's messages
        start = 0
        last = len(self.widths) - 1
        for layer_i, width in enumerate(self.widths):
            # the last slice is open-ended, so enrolment can grow the class columns without editing Slice nodes
            part = gathered[:, start:] if layer_i == last else gathered[:, start : start + width]
            hidden = h
            h = torch.addmm(part, h, getattr(self, f"layer_weight_{layer_i}"))
            start += width
            if layer_i < last:
                h = torch.relu(h)
        if self.anchor_targets is not None and self.label_scale is not None:
            h = h + self.label_scale * aggregate(weights, index, self.anchor_targets)
        if not self.neighbour_outputs:
            return h
        return h, index, weights, self._novelty(hidden)

    def _novelty(self, hidden: Tensor) -> Tensor:
        """1 - the largest cosine between the sample's input to the last layer and any anchor's (deep-kNN on
        L2-normalised features, k = 1). Enrolment keeps it right by writing the new anchors' ``anchor_hidden``.

        Chosen on validation (benchmarks/novelty_spaces.py: digits and the larger set, one class held out)
        among the projection z (the graph's distance space; the score before this one), the stem's features
        and this space, at the 1st, 5th and k-th largest cosine. Validation AUROC, digits / larger set: z
        0.878 / 0.858, the stem's features 0.968 / 0.964, this 0.976 / 0.957 (the best mean; also 8x fewer
        columns than the stem's)."""
        assert self.anchor_hidden is not None
        norm = torch.sqrt((hidden * hidden).sum(dim=1, keepdim=True)).clamp_min(MIN_NORM)
        return 1.0 - torch.matmul(hidden / norm, self.anchor_hidden).amax(dim=1)
