"""The accuracy a lower-precision model may lose against FP32, and the check of one measurement against it.

Three limits, each measured on held-out images (never calibration images, never the test split):
the accuracy drop in points, top-1 agreement with FP32, and neighbour agreement (the fraction of
samples whose k neighbour set is unchanged; only for models with a neighbour search). A limit set
to None is not checked.

The default neighbour limit, 0.99: a student's neighbour sets are decided by the stem and the
projection alone, so once those are float they are identical (100%). Measured on the digits
patch-stem student (main job recipe, seed 0, validation split): fully quantised (graph path float)
6.7% of samples kept their neighbours and accuracy dropped 3.9 pt; with the stem convolution float
100% and 0.0 pt; with only the ReLU after it float 97.2%. Issue 10 saw 4.5-15% (up to 4.5 pt lost
on test) and one lucky run 96.4%.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cnn2gnn.contracts.errors import Cnn2GnnError

DEFAULT_MAX_DROP_POINTS = 0.5
DEFAULT_MIN_TOP1_AGREEMENT = 0.99
DEFAULT_MIN_NEIGHBOUR_AGREEMENT = 0.99


@dataclass(frozen=True)
class AccuracyBudget:
    max_drop_points: float | None = DEFAULT_MAX_DROP_POINTS
    min_top1_agreement: float | None = DEFAULT_MIN_TOP1_AGREEMENT
    min_neighbour_agreement: float | None = DEFAULT_MIN_NEIGHBOUR_AGREEMENT

    def __post_init__(self) -> None:
        for option, value in (("--min-agreement", self.min_top1_agreement),
                              ("--min-neighbour-agreement", self.min_neighbour_agreement)):
            if value is not None and not 0.0 <= value <= 1.0:  # NaN fails this comparison too
                raise Cnn2GnnError(f"{option} {value} is a fraction of images: use a value from 0 to 1 (e.g. 0.99)")
        if self.max_drop_points is not None and not 0.0 <= self.max_drop_points <= 100.0:
            raise Cnn2GnnError(f"--max-drop {self.max_drop_points} is not a number of points from 0 to 100: it is the "
                               "accuracy the model may lose (e.g. 0.5)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def violations(self, comparison: dict[str, Any]) -> list[str]:
        """One sentence per limit that ``comparison`` (:func:`compare_to_fp32`'s dict) misses; [] when within."""
        found = []
        drop = comparison["accuracy_drop_points"]
        if self.max_drop_points is not None and drop > self.max_drop_points:
            found.append(f"accuracy drop {drop:+.2f} pt > {self.max_drop_points} pt")
        agreement = comparison["top1_agreement"]
        if self.min_top1_agreement is not None and agreement < self.min_top1_agreement:
            found.append(f"top-1 agreement {100 * agreement:.2f}% < {100 * self.min_top1_agreement:.2f}%")
        neighbours = comparison.get("neighbour_agreement")
        if self.min_neighbour_agreement is not None and neighbours is not None \
                and neighbours < self.min_neighbour_agreement:
            found.append(f"neighbour agreement {100 * neighbours:.2f}% < {100 * self.min_neighbour_agreement:.2f}%")
        return found

    def shortfall(self, comparison: dict[str, Any]) -> float:
        """How far ``comparison`` is outside the budget (0 within), each limit as a fraction of images."""
        total = 0.0
        if self.max_drop_points is not None:
            total += max(0.0, comparison["accuracy_drop_points"] - self.max_drop_points) / 100.0
        if self.min_top1_agreement is not None:
            total += max(0.0, self.min_top1_agreement - comparison["top1_agreement"])
        neighbours = comparison.get("neighbour_agreement")
        if self.min_neighbour_agreement is not None and neighbours is not None:
            total += max(0.0, self.min_neighbour_agreement - neighbours)
        return total


def rounding_error(comparison: dict[str, Any]) -> float:
    """Everything rounding changed, as a fraction of images: flipped arg-maxes, changed neighbour sets, the
    accuracy lost. Ranks configurations (and measures a node's harm) when the budget alone does not."""
    neighbours = comparison.get("neighbour_agreement")
    return ((1.0 - comparison["top1_agreement"]) + (0.0 if neighbours is None else 1.0 - neighbours)
            + max(0.0, comparison["accuracy_drop_points"]) / 100.0)
