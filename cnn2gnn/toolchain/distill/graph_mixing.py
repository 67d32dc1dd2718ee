"""How much the trained student trusts its neighbours' messages, set on validation images, not training images.

Training learns alpha (a sample's own features vs its neighbours' messages, h = alpha W h_i + (1 - alpha)
sum_j p_ij W h_j) from training queries, whose nearest anchors are often near-copies of themselves (augmented
siblings, the same writer, the same scene), so the neighbours look more reliable than they are for a new image.
After training alpha is chosen again on the validation split (not trained on, as far from the anchors as a
new image) by the lowest cross-entropy over a grid, the trained value included, so the fit never raises it.
The label term's beta stays as trained: enrolment fits a new class's vote scale against it.
Stem features (the images' and the anchors') and neighbours do not depend on alpha, so they are computed once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from cnn2gnn.toolchain.data.image_split import ImageSplit
from cnn2gnn.toolchain.graph.dsgl import aggregate
from cnn2gnn.toolchain.models.student import CNN2GNNStudent

ALPHAS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.98, 0.995)
# A larger validation split gains the fit nothing but time: the first images of a seeded permutation.
MAX_FIT_IMAGES = 5000
BATCH = 512


@dataclass(frozen=True)
class GraphMixingFit:
    alpha_trained: float
    alpha: float
    val_loss_trained: float
    val_loss: float
    images: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_graph_mixing(model: CNN2GNNStudent, val: ImageSplit, seed: int) -> GraphMixingFit:
    """Set ``model``'s alpha to the grid point (or the trained value) with the lowest validation loss. A fixed alpha
    (--fixed-alpha) is not fitted: the caller skips it."""
    model.eval()
    device = model.anchor_images.device
    order = torch.randperm(len(val), generator=torch.Generator().manual_seed(seed))[:MAX_FIT_IMAGES]
    labels = val.y[order].to(device)
    with torch.no_grad():
        parts = []
        for chunk in order.split(BATCH):
            h = model.features(val.images_at(chunk).to(device))
            parts.append((h, *model.neighbours_of_features(h)))
        h, w, idx = (torch.cat([p[i] for p in parts]) for i in range(3))
        bank_features = model.features(model.anchor_images)

        def val_loss(alpha_logit: Tensor) -> float:
            _set_alpha_logit(model, alpha_logit)
            logits = model.gcn_with_neighbours(h, aggregate(w, idx, model.anchor_side(bank_features)["values"]))
            return float(F.cross_entropy(logits, labels))

        # Grid points and the trained value as logits: the trained one is restored bit for bit when it wins, and
        # an alpha that sigmoid rounds to 1.0 in float32 never goes through log(alpha / (1 - alpha)).
        trained = model.alpha_logit.detach().clone()
        loss_trained = val_loss(trained)
        best, best_loss = trained, loss_trained
        for alpha in ALPHAS:
            candidate = torch.logit(torch.tensor(alpha, dtype=trained.dtype)).to(trained.device)
            loss = val_loss(candidate)
            if loss < best_loss:
                best, best_loss = candidate, loss
        _set_alpha_logit(model, best)
    return GraphMixingFit(float(torch.sigmoid(trained)), float(torch.sigmoid(best)), loss_trained, best_loss,
                          len(order))


def _set_alpha_logit(model: CNN2GNNStudent, alpha_logit: Tensor) -> None:
    model.alpha_logit.data.copy_(alpha_logit)
    model.invalidate_anchor_cache()
