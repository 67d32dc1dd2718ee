"""Reproducible choice of the anchor bank: the M training samples every input is linked to."""

from __future__ import annotations

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

ANCHOR_SELECTIONS = ("class-balanced", "random")


def select_anchors(labels: np.ndarray, num_anchors: int, method: str, seed: int) -> np.ndarray:
    """Indices into ``labels`` (sorted), the same for the same inputs.

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
