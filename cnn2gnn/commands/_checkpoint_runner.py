"""An anchor-mode student checkpoint behind the runtime's :class:`Runner` interface, on torch.

Its logits and its ``neighbours(x)`` come out under the names an exported student's outputs have, so the
runtime's ``Classifier`` and explanation grids serve ``cnn2gnn evaluate CKPT --explain`` exactly as they
serve the ``.onnx``; the thumbnails are the checkpoint's ``anchor_images`` with the normalisation undone,
as ``cnn2gnn export`` writes them. Imported only on that path: it needs torch (imported when a model runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnn2gnn.contracts.anchor_bank import BANK_KEY, NEIGHBOUR_INDEX, NEIGHBOUR_WEIGHT
from cnn2gnn.contracts.anchor_thumbnails import thumbnails_from_inputs
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.runtime.backends.runner import Runner, check_input_batch

if TYPE_CHECKING:
    from cnn2gnn.toolchain.training.checkpoint import Checkpoint
    from cnn2gnn.toolchain.training.evaluate_checkpoint import CheckpointOnSplit


def require_anchor_student(checkpoint: "Checkpoint") -> None:
    """A Cnn2GnnError saying why, unless ``checkpoint`` is an anchor-mode CNN2GNN student (the only model whose
    predictions are built from stored anchors, and so explained by them)."""
    graph = checkpoint.graph
    if graph is not None and graph.mode == "anchor":
        return
    what = (f"a {checkpoint.kind} without a graph (model family {checkpoint.family!r}): it has no anchors"
            if graph is None else
            f"a {graph.mode}-mode student: its neighbours are the other images of each batch, not a stored bank")
    raise Cnn2GnnError(
        f"--explain: {checkpoint.source} is {what}, so no anchor explains its predictions; explain an anchor-mode "
        "CNN2GNN student (`cnn2gnn distill`, --graph-mode anchor: the default) or its exported .onnx, or evaluate "
        "this checkpoint without --explain"
    )


class CheckpointRunner(Runner):
    """The student of ``evaluated`` (an anchor-mode checkpoint, see :func:`require_anchor_student`) as a Runner."""

    name = "torch"

    def __init__(self, evaluated: "CheckpointOnSplit") -> None:
        ckpt = evaluated.checkpoint
        require_anchor_student(ckpt)
        self._model: Any = evaluated.model
        self._device = evaluated.device
        self.path = Path(ckpt.source)
        graph = ckpt.graph
        self.metadata = ModelMetadata(
            kind=ckpt.kind, class_names=list(ckpt.class_names), preprocessing=ckpt.preprocessing,
            graph=graph.to_dict() if graph else None, run_config=ckpt.run_config,
            extra={BANK_KEY: {"anchor_labels": self._model.anchor_labels.tolist()}})

    @property
    def output_names(self) -> list[str]:
        return [self.metadata.output_name, NEIGHBOUR_INDEX, NEIGHBOUR_WEIGHT]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.infer_outputs(batch)[self.metadata.output_name]

    def infer_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        from cnn2gnn.toolchain.graph.dsgl import aggregate

        x = torch.from_numpy(check_input_batch(batch, self.metadata.preprocessing.input_shape, self.path))
        with torch.no_grad():
            h = self._model.features(x.to(self._device))  # one stem pass serves the logits and the neighbours
            weights, index = self._model.neighbours_of_features(h)
            logits = self._model.gcn_with_neighbours(h, aggregate(weights, index, self._model.anchor_side()["values"]))
        return {self.metadata.output_name: logits.float().cpu().numpy(),
                NEIGHBOUR_INDEX: index.cpu().numpy(), NEIGHBOUR_WEIGHT: weights.float().cpu().numpy()}

    def anchor_thumbnails(self) -> np.ndarray:
        """The anchors' images as uint8 (N, H, W, C), in bank order: what ``export`` writes to ``.anchors.npy``."""
        return thumbnails_from_inputs(self._model.anchor_images.float().cpu().numpy(), self.metadata.preprocessing)
