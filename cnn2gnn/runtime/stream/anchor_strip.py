"""The nearest anchors on an annotated frame (``cnn2gnn run --explain --save/--show``).

Along the frame's bottom, a strip of the neighbours with the largest weights: each anchor's thumbnail
(from the checksummed ``MODEL.anchors.npy`` beside the model) captioned with its label and weight.
Without a thumbnail file the captions are drawn alone, and the run says so once. numpy + OpenCV only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cnn2gnn.contracts.anchor_bank import bank_record
from cnn2gnn.contracts.anchor_thumbnails import read_thumbnails, thumbnails_path
from cnn2gnn.contracts.lazy_import import OPENCV_HINT, lazy_import
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.runtime.explanations import thumbnail_tile
from cnn2gnn.runtime.stream.crop import Box

STRIP_ANCHORS = 5  # neighbours drawn: more would shrink each thumbnail below legibility on a 640-pixel frame
MAX_CELL = 128  # a thumbnail's side at most: anchors are model inputs, a few dozen pixels across
MIN_CELL = 12  # below this a thumbnail shows nothing: the strip is left out (the JSON line still lists them)
_MARGIN, _GAP = 6, 4  # pixels from the frame's edges, and between cells


def strongest_neighbours(neighbours: Sequence[dict[str, Any]], count: int = STRIP_ANCHORS) -> list[dict[str, Any]]:
    """The ``count`` neighbours of largest weight, largest first (ties keep the model's nearest-first order)."""
    return sorted(neighbours, key=lambda anchor: -anchor["weight"])[:count]


def strip_cells(height: int, width: int, count: int) -> tuple[list[Box], int]:
    """Where ``count`` thumbnails go on a ``height`` x ``width`` frame: their (x, y, side, side) boxes, left to
    right along the bottom, and the caption height under each; no boxes when the frame is too small for them."""
    if count < 1:
        return [], 0
    side = min(MAX_CELL, height // 4, (width - 2 * _MARGIN - (count - 1) * _GAP) // count)
    if side < MIN_CELL:
        return [], 0
    caption = max(10, side // 5)
    y = height - _MARGIN - caption - side
    return [(_MARGIN + i * (side + _GAP), y, side, side) for i in range(count)], caption


def draw_anchor_strip(frame: np.ndarray, neighbours: Sequence[dict[str, Any]], thumbnails: np.ndarray | None) -> None:
    """Draw the strongest neighbours on BGR ``frame`` in place: thumbnail (when ``thumbnails`` is given) and caption."""
    cv2 = lazy_import("cv2", OPENCV_HINT, "drawing explanations")
    shown = strongest_neighbours(neighbours)
    cells, caption = strip_cells(frame.shape[0], frame.shape[1], len(shown))
    for (x, y, side, _), anchor in zip(cells, shown):
        if thumbnails is not None:
            frame[y : y + side, x : x + side] = thumbnail_tile(thumbnails[anchor["anchor"]], side)
            cv2.rectangle(frame, (x - 1, y - 1), (x + side, y + side), (255, 255, 255), 1)
        top = y + side + 1
        frame[top : top + caption, x : x + side] = 0  # a dark band: the caption stays legible on any frame
        text = f"{anchor['label']} {anchor['weight']:.2f}"
        font_scale = caption / 30
        text_width = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)[0][0]
        if text_width > side:  # long class names shrink to the cell rather than spill into the next
            font_scale *= side / text_width
        cv2.putText(frame, text, (x + 1, top + caption - 3), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1,
                    cv2.LINE_AA)


def strip_thumbnails(model: Path, metadata: ModelMetadata, log: Callable[[str], None]) -> np.ndarray | None:
    """The anchors' thumbnails beside ``model`` (checked against its metadata's sha256), or None, said once here,
    when there is no thumbnail file: the strip then shows the captions alone."""
    sha256 = bank_record(metadata, str(model)).get("thumbnails_sha256")
    path = thumbnails_path(model)
    if sha256 is None or not path.is_file():
        log(f"--explain: {model} has no anchor thumbnails beside it ({path}), so the annotated frames show the "
            "neighbours' labels and weights without their images; keep the .anchors.npy that `cnn2gnn export` / "
            "`cnn2gnn enroll` wrote beside the model to see them")
        return None
    return read_thumbnails(model, sha256)
