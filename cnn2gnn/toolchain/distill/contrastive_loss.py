"""Supervised contrastive loss (Khosla et al., 2020) on the student's hidden features.

The exported student's novelty is the cosine between an image's hidden features (the input to its last layer)
and the nearest anchor's, and enrolment imprints a new class's mean direction there. Cross-entropy alone leaves
that space shaped for the logits, not for cosine neighbourhoods. The term is taken on the own path's hidden
features (no neighbours' messages: the deployed ones add them with weight 1 - alpha, 0.005-0.1 after the refit)
and pulls each sample's L2-normalised features toward those of the batch's other samples of its class and away
from the rest:

    L = mean_i [ -1/|P(i)| sum_{p in P(i)} log( exp(s_ip / tau) / sum_{a != i} exp(s_ia / tau) ) ]

with s the cosine similarity and P(i) the batch's other samples of i's label. Samples without a positive in
the batch are left out of the mean; a batch with none gives 0. In a distributed run each rank takes its own
share of the batch: the pairs are those within a rank's samples, not across ranks.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Features shorter than this are scaled as if this long: a ReLU row of all zeros (or nearly) then gets a bounded
# gradient instead of one growing as 1/||h||.
MIN_FEATURE_NORM = 0.1
# A sample's pair with itself leaves every softmax this way: finite, unlike -inf, so a batch of one (all of its
# row masked) gives a zero gradient instead of softmax(-inf, ...) = NaN; far below any |s| / tau (<= 1 / 0.01).
SELF_PAIR = -1e9


def supervised_contrastive_loss(features: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """The loss of a batch's ``features`` (B, D) with integer ``labels`` (B,); a scalar tensor, float32 or wider."""
    # at least float32 whatever autocast runs the rest in: s / tau reaches 1 / tau, past float16's range for a
    # small tau, and bfloat16 would round it to steps of ~0.06
    with torch.autocast(features.device.type, enabled=False):
        features = features.to(torch.promote_types(features.dtype, torch.float32))
        unit = features / features.norm(dim=1, keepdim=True).clamp_min(MIN_FEATURE_NORM)
        similarity = unit @ unit.T / temperature
        self_pair = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
        similarity = similarity.masked_fill(self_pair, SELF_PAIR)
        log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
        positive = (labels[:, None] == labels[None, :]) & ~self_pair
        count = positive.sum(dim=1)
        per_sample = -log_prob.masked_fill(~positive, 0.0).sum(dim=1) / count.clamp_min(1)
        # a mean over the samples that have a positive, without asking the device whether any has
        has_positive = (count > 0).float()
        return (per_sample * has_positive).sum() / has_positive.sum().clamp_min(1.0)
