"""The wall-clock estimate printed before a run: each training job's epochs x steps x a measured step time.

Each distinct model is built as the run will build it (the teacher from its registry family, the
students from StudentConfig's defaults plus the run's overrides and the sweep's change, the CNNs from
their widths) and timed for a few optimizer steps on random data at the run's batch size, on this
process's torch threads, now: a student's step cost depends on its stem and M (a conv stem runs over
the whole anchor bank every step), which no fixed table would follow. Validation adds a forward pass
per epoch (a third of a step per batch). Testing, export, INT8 and timing get rough allowances.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from comparison.settings import Settings

if TYPE_CHECKING:
    from cnn2gnn.toolchain.models.student import CNN2GNNStudent

TIMED_STEPS = 3
# Rough allowances for what is not training (seconds), from the single-seed reports of the 2-core
# development machine (benchmarks/results/*.json stage_seconds: export + INT8 5-13 s for six models,
# latency 7-30 s, tests 1-13 s).
EXPORT_INT8_SECONDS = 3.0  # per exported model: export, parity, calibration, INT8 test run
SWEEP_POINT_MEASURE_SECONDS = 2.0  # per sweep point: test, export, parity
LATENCY_RUN_SECONDS = 30.0  # per interleaved latency run
TEST_SECONDS_PER_IMAGE = 0.001  # batch-1 + batch-64 test of one model


def _step_seconds(model: nn.Module, forward: Callable[[nn.Module, torch.Tensor], torch.Tensor], batch: int,
                  input_shape: tuple[int, ...], num_classes: int) -> float:
    x, y = torch.randn(batch, *input_shape), torch.randint(0, num_classes, (batch,))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    model.train()
    times = []
    for i in range(TIMED_STEPS + 1):  # the first step warms up allocators and kernels: not counted
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(forward(model, x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


class StepTimer:
    """Step seconds per distinct model, each measured once."""

    def __init__(self, s: Settings, input_shape: tuple[int, ...], num_classes: int, num_train: int) -> None:
        self.s, self.shape, self.classes, self.num_train = s, input_shape, num_classes, num_train
        self._seconds: dict[str, float] = {}

    def _measure(self, key: str, build: Callable[[], tuple[nn.Module, Callable[..., torch.Tensor]]]) -> float:
        if key not in self._seconds:
            model, forward = build()
            self._seconds[key] = _step_seconds(model, forward, self.s.batch_size, self.shape, self.classes)
        return self._seconds[key]

    def teacher(self) -> float:
        from cnn2gnn.toolchain.models.registry import model_family, model_from_config, teacher_archs

        def build() -> tuple[nn.Module, Callable[..., torch.Tensor]]:
            cfg = model_family(teacher_archs()[self.s.teacher_arch]).config_type(
                in_channels=self.shape[0], height=self.shape[1], width=self.shape[2], num_classes=self.classes,
                arch=self.s.teacher_arch, base_width=self.s.teacher_width)
            return model_from_config(cfg.to_dict()), lambda m, x: m(x)

        return self._measure("teacher", build)

    def student_model(self, **changes: Any) -> CNN2GNNStudent:
        from cnn2gnn.toolchain.models.student import CNN2GNNStudent
        from cnn2gnn.toolchain.models.student_config import StudentConfig
        from comparison.defaults import student_config

        fields = student_config(self.s.student, **changes)
        fields["num_anchors"] = min(int(fields["num_anchors"]), self.num_train)  # as the distiller caps it
        cfg = StudentConfig(in_channels=self.shape[0], height=self.shape[1], width=self.shape[2],
                            num_classes=self.classes, **fields)
        model = CNN2GNNStudent(cfg)
        m = cfg.num_anchors
        model.set_anchors(torch.randn(m, *self.shape), torch.arange(m), torch.randint(0, self.classes, (m,)))
        return model

    def student(self, **changes: Any) -> float:
        def build() -> tuple[nn.Module, Callable[..., torch.Tensor]]:
            model = self.student_model(**changes)
            m = model.cfg.num_anchors
            ids = torch.arange(m, m + self.s.batch_size)  # samples outside the bank, as most training samples are
            return model, lambda model, x: model(x, ids)

        return self._measure(f"student {sorted(changes.items())}", build)

    def cnn(self, widths: list[int]) -> float:
        from cnn2gnn.toolchain.models.registry import create_model

        def build() -> tuple[nn.Module, Callable[..., torch.Tensor]]:
            model = create_model("cnn-student", in_channels=self.shape[0], height=self.shape[1], width=self.shape[2],
                                 num_classes=self.classes, widths=widths)
            return model, lambda m, x: m(x)

        return self._measure(f"cnn {widths}", build)


def estimate_seconds(s: Settings, input_shape: tuple[int, ...], num_classes: int, num_train: int, num_val: int,
                     num_test: int) -> dict[str, Any]:
    """``{"seconds": total, "jobs": [{name, runs, epochs, step_seconds, seconds}]}`` for the run ``s`` describes."""
    from cnn2gnn.export.anchor_student import AnchorStudentForExport
    from comparison.defaults import student_config
    from comparison.flops import cnn_widths_matching, flops_per_image
    from comparison.seed_run import student_variants
    from comparison.sweeps import KNOBS, LOSS_FIELDS, default_value, resolve_values

    timer = StepTimer(s, input_shape, num_classes, num_train)
    steps = math.ceil(num_train / s.batch_size)
    per_epoch = steps * (1 + num_val / num_train / 3)  # training steps + a forward pass over validation
    seeds = len(s.seeds)
    jobs: list[dict[str, Any]] = []

    def job(name: str, runs: int, epochs: int, step_s: float) -> None:
        jobs.append({"name": name, "runs": runs, "epochs": epochs, "step_seconds": round(step_s, 4),
                     "seconds": round(runs * epochs * per_epoch * step_s, 1)})

    job("teacher", seeds, s.teacher_epochs, timer.teacher())
    for name, changes in student_variants(s).items():
        if name != "cnn2gnn_batch" or s.batch_student:
            job(name, seeds, s.student_epochs, timer.student(**changes))
    deployed = AnchorStudentForExport(timer.student_model().eval())
    widths, _ = cnn_widths_matching(flops_per_image(deployed, input_shape), *input_shape, num_classes)
    job(f"small CNN {widths}", seeds, s.baseline_epochs, timer.cnn(widths))
    cfg = student_config(s.student)
    if cfg["stem"] == "conv":
        job(f"same stem + linear head {cfg['stem_widths']}", seeds, s.baseline_epochs, timer.cnn(cfg["stem_widths"]))
    # exported and tested: every main-table model but the batch student, plus kNN
    exported = len(jobs) - (1 if s.batch_student else 0) + 1
    tested = len(jobs) + 1
    points = 0
    if s.sweeps:
        job("sweep: defaults", 1, s.sweep_epochs, timer.student())
        points = 1
        for knob, values in s.sweeps.items():
            name = KNOBS[knob][0]
            for value in resolve_values(knob, values, num_train):
                if value == default_value(s, knob, num_train):
                    continue
                step_s = timer.student() if name in LOSS_FIELDS else timer.student(**{name: value})
                job(f"sweep: {knob}={value}", 1, s.sweep_epochs, step_s)
                points += 1
    teacher_logits = seeds * steps * timer.teacher() / 3
    measure = (exported * EXPORT_INT8_SECONDS + LATENCY_RUN_SECONDS
               + seeds * tested * num_test * TEST_SECONDS_PER_IMAGE
               + (points * SWEEP_POINT_MEASURE_SECONDS + LATENCY_RUN_SECONDS if points else 0.0))
    total = sum(j["seconds"] for j in jobs) + teacher_logits + measure
    return {"seconds": round(total), "training_seconds": round(sum(j["seconds"] for j in jobs)),
            "other_seconds": round(teacher_logits + measure), "jobs": jobs}


def format_estimate(estimate: dict[str, Any]) -> str:
    lines = [f"estimated wall time: {estimate['seconds'] / 60:.0f} min ({estimate['seconds']} s; training "
             f"{estimate['training_seconds']} s, the rest {estimate['other_seconds']} s), from step times measured now:"]
    for j in estimate["jobs"]:
        lines.append(f"  {j['name']}: {j['runs']} x {j['epochs']} epochs, {j['step_seconds'] * 1000:.0f} ms/step "
                     f"-> {j['seconds'] / 60:.1f} min")
    return "\n".join(lines)
