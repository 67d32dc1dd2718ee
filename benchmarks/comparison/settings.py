"""What a report run trains and measures: the full preset, the CI-sized ``--quick`` one, and overrides.

The student is not described here: ``student`` holds only what a preset changes from StudentConfig's
own defaults (the full preset changes nothing), and ``lam``/``temperature``/``student_augment`` left
at None become the distiller's defaults in :func:`preset` (see ``comparison.defaults``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass
class Settings:
    data: str = "digits"
    # Every model of the main table is trained once per seed (the seed also re-draws the split where the
    # dataset draws one); the tables show mean, min and max over them. Seed 0's models are the ones
    # exported, calibrated and timed.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    image_size: int = 32
    # teacher: deeper than the train-teacher CLI default (resnet8), so that the teacher is the strongest model
    # in the table (issue 14); --teacher-* change it
    teacher_arch: str = "resnet20"
    teacher_width: int = 32
    teacher_epochs: int = 20
    teacher_augment: str = "shift"
    # CNN2GNN students: StudentConfig's defaults plus these overrides
    student: dict[str, Any] = field(default_factory=dict)
    student_epochs: int = 30  # the distill CLI default
    # the CNN baselines: the small CNN of equal FLOPs and the same conv stem with a linear head
    baseline_epochs: int = 30
    student_augment: str | None = None
    lam: float | None = None
    temperature: float | None = None
    batch_size: int = 64
    # the paper's batch-graph student: one more student per seed, not deployable (no target uses it)
    batch_student: bool = True
    # sweeps: seed 0 only, fewer epochs; knob -> values (see comparison.sweeps.KNOBS)
    sweep_epochs: int = 15
    sweeps: dict[str, list[Any]] = field(default_factory=lambda: {
        "M": [128, 256, 512, 1024, 2048, 4096], "stem": ["none", "patch", "conv"]})
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

    @property
    def latency_seed(self) -> int:
        """The seed whose models are exported, calibrated and timed (and that the sweeps train with)."""
        return self.seeds[0]


FULL = Settings()

# Values the optional sweeps (--sweeps k,T,...) take when the preset lists none for them.
OPTIONAL_SWEEPS: dict[str, list[Any]] = {
    "k": [3, 5, 10, 20], "T": [1, 2, 4, 8], "lam": [0.0, 0.3, 0.7, 0.9],
    "selection": ["class-balanced", "random", "kmeans"], "labels": ["none", "lp", "embed", "both"],
}

# A conv stem even if the default is another: the smoke run then trains every row, the ablation included.
QUICK = Settings(
    seeds=[0], image_size=16, teacher_width=8, teacher_epochs=1, teacher_augment="none",
    student={"k": 5, "num_anchors": 64, "proj_dim": 16, "hidden": 32, "stem": "conv", "stem_widths": [4, 8]},
    student_epochs=2, baseline_epochs=2, batch_size=128, sweep_epochs=1,
    sweeps={"M": [32, 64], "stem": ["none", "conv"]},
    warmup=2, iterations_b1=10, iterations_b64=4, rounds=2, calibration_images=32, parity_samples=16,
)


def preset(quick: bool, sweep_knobs: list[str] | None = None, m_values: list[Any] | None = None,
           **overrides: Any) -> Settings:
    """The preset with ``overrides`` (None values ignored); ``sweep_knobs`` picks which sweeps run, each
    with the preset's values or else :data:`OPTIONAL_SWEEPS`' (``[]``: none); ``m_values`` replaces the
    M sweep's values (ints or "all")."""
    from comparison.defaults import distill_loss_defaults, student_augment_default

    base = QUICK if quick else FULL
    s = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    knobs = list(s.sweeps) if sweep_knobs is None else sweep_knobs
    s.sweeps = {k: list(s.sweeps.get(k) or OPTIONAL_SWEEPS[k]) for k in knobs}  # a copy: presets stay intact
    if m_values is not None and "M" in s.sweeps:
        s.sweeps["M"] = m_values
    loss = distill_loss_defaults()
    s.lam = loss["lam"] if s.lam is None else s.lam
    s.temperature = loss["temperature"] if s.temperature is None else s.temperature
    s.student_augment = s.student_augment or student_augment_default()
    return s
