"""What a report run trains and measures: the full preset, the CI-sized ``--quick`` one, and overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass
class Settings:
    data: str = "digits"
    seed: int = 0
    image_size: int = 32
    # teacher: the CLI defaults
    teacher_arch: str = "resnet8"
    teacher_width: int = 32
    teacher_epochs: int = 20
    teacher_augment: str = "shift"
    # CNN2GNN student: the CLI defaults
    student: dict[str, Any] = field(default_factory=lambda: {
        "k": 10, "num_anchors": 512, "anchor_selection": "class-balanced", "proj_dim": 64, "hidden": 256})
    student_epochs: int = 60
    lam: float = 0.7
    temperature: float = 4.0
    batch_size: int = 64
    # knob sweeps (the anchor-mode distilled student, fewer epochs)
    sweep_epochs: int = 15
    sweeps: dict[str, list[float]] = field(default_factory=lambda: {
        "k": [3, 5, 10, 20], "num_anchors": [128, 256, 512, 1024], "temperature": [1, 2, 4, 8],
        "lam": [0.0, 0.3, 0.7, 0.9]})
    # single changes tried beside the sweeps: what else the method allows
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "stem=patch": {"stem": "patch"}, "random anchors": {"anchor_selection": "random"}})
    tuned: bool = True
    # deployment measurements
    knn_vote: str = "distance"
    threads: int = 1
    torch_threads: int = 1
    warmup: int = 20
    iterations_b1: int = 300
    iterations_b64: int = 40
    rounds: int = 5
    calibration_images: int = 512
    parity_samples: int = 256

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Settings()

QUICK = Settings(
    image_size=16, teacher_width=8, teacher_epochs=1, teacher_augment="none",
    student={"k": 5, "num_anchors": 64, "anchor_selection": "class-balanced", "proj_dim": 16, "hidden": 32},
    student_epochs=2, batch_size=128, sweep_epochs=1,
    sweeps={"k": [3, 5], "num_anchors": [32, 64], "temperature": [1, 4], "lam": [0.0, 0.7]},
    variants={"stem=patch": {"stem": "patch"}},
    warmup=2, iterations_b1=10, iterations_b64=4, rounds=2, calibration_images=32, parity_samples=16,
)


def preset(quick: bool, **overrides: Any) -> Settings:
    return replace(QUICK if quick else FULL, **{k: v for k, v in overrides.items() if v is not None})
