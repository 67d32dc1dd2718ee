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

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.graph.dsgl import adaptive_neighbours, aggregate
from cnn2gnn.toolchain.models.student import CNN2GNNStudent


class AnchorStudentForExport(nn.Module):
    """``forward(images) -> logits`` for one anchor-mode student; the result never depends on the batch.

    Stored constants (ONNX initializers), all float32:
    - ``anchor_dist_weight`` = -2 z_a^T (P x M) and ``anchor_z_sq`` = ||z_a||^2 (M): the distance to
      every anchor up to the sample's own ||z||^2, one Gemm. Dropping ||z||^2 (a per-row
      constant) changes neither the TopK order nor the closed-form weights, which use only
      differences of a row's distances;
    - ``anchor_values`` (M x (hidden_1 + ... + C)): what a sample aggregates from its anchors in every
      layer, (1 - alpha) W_l H^l_a, plus beta * Y_a (the anchors' labels) in the last layer's columns,
      so ONE Gather + weighted sum serves both layers and the label term;
    - alpha is folded into the layers' own-path weights (``layer_weight_l`` = (alpha W_l)^T) and their
      biases into ``anchor_values`` (the weights p_ij of a row sum to 1), so each layer is one Gemm.
    ``anchor_z`` (the centred anchor projections) stays a buffer for neighbour look-ups / enrolment
    tools but is not needed by ``forward``.
    """

    anchor_z: Tensor
    anchor_z_sq: Tensor
    anchor_dist_weight: Tensor
    anchor_values: Tensor

    def __init__(self, student: CNN2GNNStudent) -> None:
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
            values = anchors["values"].clone()
            start = 0
            for layer_i, layer in enumerate(exact.gcn):
                # alpha * (W h + b) + sum_j p_ij v_j  ==  h (alpha W)^T + sum_j p_ij (v_j + alpha b): the rows
                # of p sum to 1, so the bias rides in the anchor values and each layer is ONE Gemm
                # whose addend is the gathered slice.
                width = layer.out_features
                values[:, start : start + width] += alpha * layer.bias
                self.register_buffer(f"layer_weight_{layer_i}", (alpha * layer.weight).t().float().contiguous())
                start += width
        self.features = student.features
        self.k = graph.k
        self.eps = cfg.eps
        self.widths = [layer.out_features for layer in student.gcn]
        self.register_buffer("anchor_z", anchor_z.float())
        self.register_buffer("anchor_z_sq", (anchor_z * anchor_z).sum(dim=1).float())
        self.register_buffer("anchor_dist_weight", (-2.0 * anchor_z.t()).float().contiguous())
        self.register_buffer("anchor_values", values.float().contiguous())
        self.eval()

    def distances(self, images: Tensor) -> Tensor:
        """||z - z_a||^2 - ||z||^2 for every anchor: ranks and weights anchors as the full distance does."""
        z = self.projection(self.features(images))
        return torch.addmm(self.anchor_z_sq, z, self.anchor_dist_weight)

    def forward(self, images: Tensor) -> Tensor:
        h = self.features(images)
        z = self.projection(h)
        dist = torch.addmm(self.anchor_z_sq, z, self.anchor_dist_weight)  # one Gemm
        weights, index = adaptive_neighbours(dist, self.k, self.eps)
        gathered = aggregate(weights, index, self.anchor_values)  # the only Gather
        start = 0
        for layer_i, width in enumerate(self.widths):
            h = torch.addmm(gathered[:, start : start + width], h, getattr(self, f"layer_weight_{layer_i}"))
            start += width
            if layer_i < len(self.widths) - 1:
                h = torch.relu(h)
        return h
