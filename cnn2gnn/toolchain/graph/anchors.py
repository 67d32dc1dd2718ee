"""Reproducible choice of the anchor bank: the M training samples every input is linked to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

if TYPE_CHECKING:
    from torch import Tensor

ANCHOR_SELECTIONS = ("class-balanced", "random", "kmeans")


def select_anchors(labels: np.ndarray, num_anchors: int, method: str, seed: int) -> np.ndarray:
    """Indices into ``labels`` (sorted), the same for the same inputs.

    kmeans starts from the class-balanced choice; the distiller then replaces it during training by
    class-balanced k-means medoids in the student's learned space (:func:`kmeans_medoids`).
    class-balanced takes M // C per class (the remainder one each to the lowest class labels; a class
    with fewer samples than its share gives all it has and leaves the rest to the others), so small
    classes are not crowded out of the neighbour search; random draws uniformly.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if method not in ANCHOR_SELECTIONS:
        raise Cnn2GnnError(f"anchor selection {method!r} unknown; use one of {ANCHOR_SELECTIONS}")
    if num_anchors < 1:
        raise Cnn2GnnError(f"number of anchors must be at least 1, got {num_anchors}")
    if num_anchors >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if method == "kmeans":
        method = "class-balanced"
    if method == "random":
        return np.sort(rng.choice(n, size=num_anchors, replace=False)).astype(np.int64)
    pools = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    chosen: list[int] = []
    taken = {c: 0 for c in pools}
    while len(chosen) < num_anchors:
        # round-robin over classes that still have samples: equal shares, remainder spread evenly
        progressed = False
        for c in sorted(pools):
            if len(chosen) == num_anchors:
                break
            if taken[c] < len(pools[c]):
                chosen.append(int(pools[c][taken[c]]))
                taken[c] += 1
                progressed = True
        if not progressed:
            break
    return np.sort(np.asarray(chosen, dtype=np.int64))


def kmeans_medoids(features: Tensor, labels: np.ndarray, num_anchors: int, seed: int, iters: int = 10) -> np.ndarray:
    """Class-balanced prototypes: per class, k-means (``iters`` Lloyd steps) with that class's share of
    ``num_anchors`` centres on ``features`` (N, D), each centre replaced by its nearest real sample (a
    medoid), so anchors stay labelled training images. Sorted indices into ``labels``."""
    import torch  # lazily: select_anchors alone needs only numpy

    labels = np.asarray(labels)
    shares = np.bincount(labels[select_anchors(labels, num_anchors, "class-balanced", seed)], minlength=labels.max() + 1)
    gen = torch.Generator().manual_seed(seed)
    chosen: list[int] = []
    feats = features.detach().double()
    for c, share in enumerate(shares):
        if share == 0:
            continue
        members = np.flatnonzero(labels == c)
        x = feats[torch.from_numpy(members)]
        if share >= len(members):
            chosen += members.tolist()
            continue
        centres = x[torch.randperm(len(members), generator=gen)[:share]].clone()
        for _ in range(iters):
            assign = torch.cdist(x, centres).argmin(dim=1)
            for j in range(share):
                mask = assign == j
                if mask.any():
                    centres[j] = x[mask].mean(dim=0)
        d = torch.cdist(centres, x)
        picked: list[int] = []
        for j in d.min(dim=1).values.argsort().tolist():  # distinct medoids, closest centres first
            for i in d[j].argsort().tolist():
                if i not in picked:
                    picked.append(i)
                    break
        chosen += members[picked].tolist()
    return np.sort(np.asarray(chosen, dtype=np.int64))
