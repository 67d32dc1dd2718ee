"""One anchor bank for every rank of a distributed distillation run.

Rank 0 selects the anchor ids (seeded, ``select_anchors``) and broadcasts them, so no rank depends on
its own library versions drawing the same ids; each rank then takes the anchor images from its own
training tensors, and the sha256 of every rank's bank is compared: a rank that decoded or preprocessed
the images differently (another OpenCV or numpy build on another node) is refused before training, and
the digests are recorded in the run config.
"""

from __future__ import annotations

import hashlib
from typing import Mapping

import numpy as np
from torch import Tensor

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.graph.anchors import select_anchors
from cnn2gnn.toolchain.training.checkpoint import ANCHOR_BUFFERS
from cnn2gnn.toolchain.training.distributed import broadcast_object, gather_objects
from cnn2gnn.toolchain.training.world import World


def agreed_anchor_ids(labels: np.ndarray, num_anchors: int, method: str, seed: int, world: World) -> np.ndarray:
    ids = select_anchors(labels, num_anchors, method, seed) if world.is_main else None
    return np.asarray(broadcast_object(ids, world), dtype=np.int64)


def anchor_bank_sha256(buffers: Mapping[str, Tensor]) -> str:
    """sha256 over the anchor buffers (images, ids, labels) of a model's or a checkpoint's state dict."""
    digest = hashlib.sha256()
    for name in ANCHOR_BUFFERS:
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(buffers[name].detach().cpu().numpy()).tobytes())
    return digest.hexdigest()


def anchor_bank_sha256_per_rank(buffers: Mapping[str, Tensor], world: World) -> list[str]:
    """Every rank's bank digest, in rank order; refuses banks that differ between ranks."""
    digests = gather_objects(anchor_bank_sha256(buffers), world)
    if len(set(digests)) > 1:
        differing = [rank for rank, d in enumerate(digests) if d != digests[0]]
        raise Cnn2GnnError(
            f"ranks {differing} hold other anchor images than rank 0 (sha256 per rank: {digests}): those processes "
            "decoded or preprocessed the training images differently; run every node with the same cnn2gnn, "
            "OpenCV and numpy versions and the same data"
        )
    return digests
