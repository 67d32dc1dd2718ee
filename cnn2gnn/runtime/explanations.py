"""Explanation grids: a misclassified image beside the k anchors its prediction was built from.

One PNG per image: the image, then each neighbour anchor's thumbnail (from the model's checksummed
``.anchors.npy``, or a checkpoint's anchor images) captioned with its label and weight, nearest first.
The classifier may wrap any runner with neighbour outputs: an exported model, or a checkpoint on torch
(``cnn2gnn evaluate CKPT --explain``). numpy + OpenCV only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import OPENCV_HINT, lazy_import
from cnn2gnn.runtime.classifier import Classifier

CELL = 96  # pixels per tile side
CAPTION = 18  # pixels of text under each tile
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")  # class names in file names
# A grid's file name (index, true and predicted class): how an earlier run's grids in the folder are recognised.
_GRID_FILE = re.compile(r"^\d{5,}_true-[A-Za-z0-9_.-]*_pred-[A-Za-z0-9_.-]*\.png$")  # what _grid_file_name makes


def _grid_file_name(index: int, truth: str, predicted: str) -> str:
    return _SAFE.sub("_", f"{index:05d}_true-{truth}_pred-{predicted}.png")


def thumbnail_tile(image: np.ndarray, side: int) -> np.ndarray:
    """An RGB or gray image (HxW, HxWx1, HxWx3) as a ``side`` x ``side`` BGR tile; nearest-neighbour, so the
    anchors' few pixels stay sharp rather than blur."""
    cv2 = lazy_import("cv2", OPENCV_HINT, "drawing explanations")
    rgb = image if image.ndim == 3 else image[:, :, None]
    rgb = np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb[:, :, :3]
    tile = cv2.resize(np.ascontiguousarray(rgb), (side, side), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(tile[:, :, ::-1])  # RGB -> OpenCV's BGR


def _tile(cv2, image: np.ndarray, caption: str, colour: tuple[int, int, int]) -> np.ndarray:
    canvas = np.full((CELL + CAPTION, CELL, 3), 255, np.uint8)
    canvas[:CELL] = thumbnail_tile(image, CELL)
    cv2.putText(canvas, caption[:16], (2, CELL + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, colour, 1, cv2.LINE_AA)
    return canvas


def explanation_grid(image: np.ndarray, caption: str, thumbnails: np.ndarray, labels: Sequence[str],
                     weights: Sequence[float], truth: str) -> np.ndarray:
    """The BGR grid: ``image`` (RGB or gray, any size) then each anchor, green where its label is ``truth``."""
    cv2 = lazy_import("cv2", OPENCV_HINT, "drawing explanations")
    tiles = [_tile(cv2, image, caption, (0, 0, 200))]
    for thumb, label, weight in zip(thumbnails, labels, weights):
        colour = (0, 140, 0) if label == truth else (0, 0, 0)
        tiles.append(_tile(cv2, thumb, f"{label} {weight:.2f}", colour))
    gap = np.full((CELL + CAPTION, 4, 3), 255, np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)


def write_explanations(classifier: Classifier, images: Sequence[np.ndarray], labels: np.ndarray,
                       class_names: Sequence[str], thumbnails: np.ndarray, folder: Path, batch_size: int = 64
                       ) -> list[dict[str, Any]]:
    """A PNG grid in ``folder`` for each misclassified image (RGB dataset images); returns one record per grid:
    its file name, the image's index in ``images``, true and predicted class, and the neighbours drawn. An earlier
    run's grids in ``folder`` are removed first (other files are left alone), so the folder shows this run's
    mistakes only."""
    cv2 = lazy_import("cv2", OPENCV_HINT, "writing explanations")
    classifier.require_explainable()  # before the earlier run's grids are removed
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if _GRID_FILE.match(stale.name) and stale.is_file():
            stale.unlink()
    written = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        for offset, prediction in enumerate(classifier.classify(chunk, "RGB", top_k=1, explain=True)):
            i = start + offset
            truth, predicted = str(class_names[int(labels[i])]), prediction.labels[0]
            if predicted == truth:
                continue
            anchors = prediction.neighbours or []
            grid = explanation_grid(chunk[offset], f"{truth}->{predicted}", thumbnails[[a["anchor"] for a in anchors]],
                                    [a["label"] for a in anchors], [a["weight"] for a in anchors], truth)
            ok, png = cv2.imencode(".png", grid)
            if not ok:
                raise Cnn2GnnError(f"OpenCV could not encode the explanation of image {i} as PNG")
            path = folder / _grid_file_name(i, truth, predicted)
            atomic_write_bytes(path, png.tobytes())
            written.append({"file": path.name, "index": i, "truth": truth, "predicted": predicted,
                            "neighbours": anchors})
    return written
