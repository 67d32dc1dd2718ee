"""Pick calibration images class-balanced and reproducibly, skipping those that cannot be used.

INT8 ranges calibrated on a few classes clip the activations of the others, so the picks go round
robin over the classes: every class gets ``n // classes`` images (one more for some, in a seeded
order) unless it runs out, and then the remaining classes fill the gap. Within a class the order is
a seeded shuffle. An image that fails to load is named, counted, and replaced by the class's next one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def select_stratified(
    labels: np.ndarray,
    num_images: int,
    seed: int,
    try_use: Callable[[int], str | None] | None = None,
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Up to ``num_images`` indices into ``labels``, class-balanced; returns ``(sorted indices, failures)``.

    ``try_use(i)`` loads image ``i`` and returns None when it is usable, else the reason it is not;
    failures are ``(index, reason)`` in the order met. Fewer indices come back when the split (minus
    its failures) holds fewer than ``num_images``.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    queues = []
    for cls in classes:
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        queues.append(list(idx))
    class_order = rng.permutation(len(classes))
    picked: list[int] = []
    failed: list[tuple[int, str]] = []
    heads = [0] * len(classes)
    active = list(class_order)
    while len(picked) < num_images and active:
        still_active = []
        for c in active:
            if len(picked) >= num_images:
                still_active.append(c)
                continue
            queue = queues[c]
            while heads[c] < len(queue):
                i = int(queue[heads[c]])
                heads[c] += 1
                reason = try_use(i) if try_use is not None else None
                if reason is None:
                    picked.append(i)
                    break
                failed.append((i, reason))
            if heads[c] < len(queue):
                still_active.append(c)
        active = still_active
    return np.sort(np.asarray(picked, dtype=np.int64)), failed
