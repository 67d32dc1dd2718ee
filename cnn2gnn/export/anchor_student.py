"""The anchor-mode student as an export-friendly module: the eval-mode anchor side frozen into buffers.

``CNN2GNNStudent`` in eval mode caches its anchor side (projections z_a, their squared norms, the
per-layer messages W_l H^l_a) in a Python dict, which an exporter cannot see as weights. This wrapper
registers those tensors as buffers, so they become ONNX initializers, and runs the same DSGL functions
the student does: the exported graph is the eval-mode computation with the anchors' own graph (an
M x M TopK) already evaluated. Dropout is absent because eval mode makes it the identity.

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
from cnn2gnn.toolchain.graph.dsgl import adaptive_neighbours, aggregate, squared_distances
from cnn2gnn.toolchain.models.student import CNN2GNNStudent


class AnchorStudentForExport(nn.Module):
    """``forward(images) -> logits`` for one anchor-mode student; the result never depends on the batch."""

    anchor_z: Tensor
    anchor_z_sq: Tensor
    alpha: Tensor

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
        self.features = student.features
        self.gcn = student.gcn
        self.k = graph.k
        self.eps = cfg.eps
        self.register_buffer("anchor_z", anchor_z.float())
        self.register_buffer("anchor_z_sq", (anchor_z * anchor_z).sum(dim=1).float())
        for layer_i, message in enumerate(anchors["messages"]):
            self.register_buffer(f"anchor_messages_{layer_i}", message.float())
        self.register_buffer("alpha", student.alpha.detach().clone())
        self.eval()

    def anchor_messages(self, layer_i: int) -> Tensor:
        message: Tensor = getattr(self, f"anchor_messages_{layer_i}")
        return message

    def forward(self, images: Tensor) -> Tensor:
        h = self.features(images)
        z = self.projection(h)
        dist = squared_distances(z, self.anchor_z, self.anchor_z_sq)
        weights, index = adaptive_neighbours(dist, self.k, self.eps)
        for layer_i, layer in enumerate(self.gcn):
            neighbours = aggregate(weights, index, self.anchor_messages(layer_i))
            h = self.alpha * layer(h) + (1.0 - self.alpha) * neighbours
            if layer_i < len(self.gcn) - 1:
                h = torch.relu(h)
        return h
