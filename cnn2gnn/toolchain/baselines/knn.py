"""k-nearest-neighbour classification on a student's anchor bank: what the graph alone gives.

The node features are the raw flattened preprocessed images (no learned projection), the candidates
are the student's M anchors and k is the student's k. The computation is the student's own export
recipe (MatMul distances, TopK, Gather, weighted ReduceSum), so it exports to ONNX as it stands and
is timed by the same runtime as every other model. Output: vote shares per class, used as logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.graph.dsgl import aggregate, squared_distances
from cnn2gnn.toolchain.models.student import CNN2GNNStudent

VOTES = ("majority", "distance")
# Added to the nearest neighbour's vote: breaks a tied majority in its favour, never outweighs one vote.
_NEAREST_TIE_BREAK = 1e-3


class KNNClassifier(nn.Module):
    anchors: Tensor
    anchors_sq: Tensor
    anchor_votes: Tensor
    tie_break: Tensor

    def __init__(self, anchor_features: Tensor, anchor_labels: Tensor, num_classes: int, k: int,
                 vote: str = "distance", eps: float = 1e-6) -> None:
        super().__init__()
        if vote not in VOTES:
            raise Cnn2GnnError(f"kNN vote {vote!r} unknown; use one of {VOTES}")
        if not 1 <= k <= anchor_features.shape[0]:
            raise Cnn2GnnError(f"kNN needs 1 <= k <= {anchor_features.shape[0]} anchors, got k={k}")
        self.k, self.vote, self.eps = k, vote, eps
        anchors = anchor_features.detach().flatten(1).float()
        self.register_buffer("anchors", anchors.clone())
        self.register_buffer("anchors_sq", (anchors * anchors).sum(dim=1))
        self.register_buffer("anchor_votes", nn.functional.one_hot(anchor_labels.long(), num_classes).float())
        tie_break = torch.zeros(k)
        tie_break[0] = _NEAREST_TIE_BREAK
        self.register_buffer("tie_break", tie_break)
        self.eval()

    def forward(self, images: Tensor) -> Tensor:
        dist = squared_distances(images.flatten(1), self.anchors, self.anchors_sq)
        values, index = torch.topk(dist, self.k, dim=1, largest=False, sorted=True)
        if self.vote == "distance":
            inverse = 1.0 / (values + self.eps)
            weights = inverse / inverse.sum(dim=1, keepdim=True)
        else:
            weights = (torch.ones_like(values) + self.tie_break) / self.k
        return aggregate(weights, index, self.anchor_votes)


def knn_from_student(student: CNN2GNNStudent, vote: str = "distance") -> KNNClassifier:
    """kNN over ``student``'s anchor images with the student's k (an anchor-mode student)."""
    if student.cfg.graph_mode != "anchor":
        raise Cnn2GnnError("kNN on the anchor bank needs an anchor-mode student (a batch-mode one has no anchors)")
    images, labels = torch.as_tensor(student.anchor_images), torch.as_tensor(student.anchor_labels)
    if int(labels.min()) < 0:
        raise Cnn2GnnError("the student has no anchors set (labels are -1): load a trained student checkpoint")
    return KNNClassifier(images, labels, student.cfg.num_classes, student.cfg.k, vote, student.cfg.eps)
