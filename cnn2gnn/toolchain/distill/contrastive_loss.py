"""Supervised contrastive loss (Khosla et al., 2020) on the student's hidden features.

The exported student's novelty is the cosine between an image's hidden features (the input to its last layer)
and the nearest anchor's, and enrolment imprints a new class's mean direction there. Cross-entropy alone leaves
that space shaped for the logits, not for cosine neighbourhoods; this term pulls each sample's L2-normalised
features toward those of the batch's other samples of its class and away from the rest:

    L = mean_i [ -1/|P(i)| sum_{p in P(i)} log( exp(s_ip / tau) / sum_{a != i} exp(s_ia / tau) ) ]

with s the cosine similarity and P(i) the batch's other samples of i's label. Samples without a positive in
the batch are left out of the mean; a batch with none gives 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Features shorter than this are scaled as if this long: a ReLU row of all zeros (or nearly) then gets a bounded
# gradient instead of 1/||h||, which blew training up to NaN within a few epochs.
MIN_FEATURE_NORM = 0.1


def supervised_contrastive_loss(features: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """The loss of a batch's ``features`` (B, D) with integer ``labels`` (B,); a scalar tensor."""
    unit = features / features.norm(dim=1, keepdim=True).clamp_min(MIN_FEATURE_NORM)
    similarity = unit @ unit.T / temperature
    self_pair = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    similarity = similarity.masked_fill(self_pair, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_pair
    count = positive.sum(dim=1)
    has_positive = count > 0
    if not has_positive.any():
        return features.sum() * 0.0  # keeps the graph (and the autocast dtype) of the other terms
    # the self pair's -inf never meets a positive: masked to 0 before the sum, not multiplied by it
    per_sample = -log_prob.masked_fill(~positive, 0.0).sum(dim=1)[has_positive] / count[has_positive]
    return per_sample.mean()
