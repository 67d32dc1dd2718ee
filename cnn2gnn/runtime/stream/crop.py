"""The part of each frame the model sees: a fixed region of interest, or a centred square.

Models are trained on roughly square, object-centred images; a wide camera frame squeezed to the
model's input distorts the object, so cropping first usually matters more than any other setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


def parse_roi(text: str) -> Box:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise Cnn2GnnError(f"--roi takes X,Y,W,H in pixels (e.g. 160,60,320,320), got {text!r}") from None
    return x, y, w, h


@dataclass(frozen=True)
class Crop:
    """``roi`` (x, y, w, h) or ``center`` (the side of a centred square as a fraction of the shorter side)."""

    roi: Box | None = None
    center: float | None = None

    def __post_init__(self) -> None:
        if self.roi is not None and self.center is not None:
            raise Cnn2GnnError("--roi and --center-crop exclude each other; give one")
        if self.roi is not None and (min(self.roi[:2]) < 0 or min(self.roi[2:]) < 1):
            raise Cnn2GnnError(f"--roi {self.roi}: X and Y must be >= 0, W and H >= 1")
        if self.center is not None and not 0 < self.center <= 1:
            raise Cnn2GnnError(f"--center-crop is a fraction of the shorter side in (0, 1], got {self.center}")

    @property
    def active(self) -> bool:
        return self.roi is not None or self.center is not None

    def box(self, height: int, width: int) -> Box | None:
        """The crop in a ``height`` x ``width`` frame; a ROI reaching outside it is an error, not clipped."""
        if self.roi is not None:
            x, y, w, h = self.roi
            if x + w > width or y + h > height:
                raise Cnn2GnnError(f"--roi {x},{y},{w},{h} reaches outside the {width}x{height} frames of this "
                                   "source; the camera may deliver another size than requested (see the summary)")
            return self.roi
        if self.center is not None:
            side = max(1, int(round(self.center * min(height, width))))
            return (width - side) // 2, (height - side) // 2, side, side
        return None

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The cropped view of ``image`` (no copy), or ``image`` itself without a crop."""
        box = self.box(image.shape[0], image.shape[1])
        if box is None:
            return image
        x, y, w, h = box
        return image[y : y + h, x : x + w]
