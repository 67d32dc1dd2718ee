"""The student's graph: mode, neighbours per sample k and anchor-bank size M, with the rules that tie them.

Validated once, when a student config is created, so a k that TensorRT cannot run stops ``cnn2gnn
distill`` before training instead of ``cnn2gnn export`` after it. The same record is written into
the exported model's metadata (``ModelMetadata.graph``). Torch-free: the runtime may import it.

The two size rules of the DSGL closed form (docs/method.md):
- TopK takes ``k + 1`` candidates per row: the (k+1)-th distance is the threshold of the k weights.
- A graph over n nodes excludes each node from its own candidates, so it needs ``n >= k + 2``
  nodes: anchors in anchor mode (the anchors' own graph), samples per batch in batch mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cnn2gnn.contracts.errors import Cnn2GnnError

# TensorRT's TopK layer accepts a constant K of at most 3840.
TENSORRT_TOPK_LIMIT = 3840
GRAPH_MODES = ("anchor", "batch")


def topk_size(k: int) -> int:
    """K of the TopK that finds k neighbours: one more, whose distance sets the weights' threshold."""
    return k + 1


def min_graph_nodes(k: int) -> int:
    """The fewest nodes a self-excluding graph with k neighbours needs: each node sees the others only."""
    return topk_size(k) + 1


@dataclass(frozen=True)
class GraphSpec:
    mode: str  # "anchor" | "batch"
    k: int
    num_anchors: int

    def __post_init__(self) -> None:
        if self.mode not in GRAPH_MODES:
            raise Cnn2GnnError(f"graph mode (--graph-mode) {self.mode!r} unknown; use one of {GRAPH_MODES}")
        if self.k < 1:
            raise Cnn2GnnError(f"k (-k), the neighbours per sample, must be at least 1, got {self.k}")
        if self.topk_k > TENSORRT_TOPK_LIMIT:
            raise Cnn2GnnError(
                f"k={self.k} needs TopK with K=k+1={self.topk_k}, above TensorRT's limit of {TENSORRT_TOPK_LIMIT}; "
                f"use k {TENSORRT_TOPK_LIMIT - 1} or less"
            )
        if self.mode == "anchor" and self.num_anchors < self.min_nodes:
            raise Cnn2GnnError(
                f"anchor mode with k={self.k} needs at least k+2={self.min_nodes} anchors (--anchors), got "
                f"{self.num_anchors}"
            )

    @property
    def topk_k(self) -> int:
        return topk_size(self.k)

    @property
    def min_nodes(self) -> int:
        """Anchors (anchor mode) or samples per batch (batch mode) the graph needs at least."""
        return min_graph_nodes(self.k)

    @property
    def min_batch(self) -> int:
        """The smallest batch a prediction can use: k+2 in batch mode, where the batch is the graph; else 1."""
        return self.min_nodes if self.mode == "batch" else 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "graph") -> "GraphSpec":
        try:
            return cls(mode=str(data["mode"]), k=int(data["k"]), num_anchors=int(data["num_anchors"]))
        except KeyError as exc:
            raise Cnn2GnnError(f"{source}: the graph record lacks the field {exc}") from exc
