"""The whole run's time, estimated from its first batches, and the one-line warning when it runs to hours:
the defaults are sized for a GPU, and a CPU run of them should say so early rather than after an epoch."""

from __future__ import annotations

# Batches timed before estimating (the first ones also pay for allocator and kernel warm-up).
ESTIMATE_AFTER_BATCHES = 20
# Runs estimated longer than this get the warning.
LONG_RUN_S = 3600.0


def estimated_run_seconds(seconds: float, batches_done: int, batches_per_epoch: int, epochs: int) -> float:
    """The time of ``epochs`` epochs of ``batches_per_epoch`` batches at the pace of the batches so far
    (validation, a small fraction of an epoch, is not counted)."""
    if batches_done < 1:
        raise ValueError("estimate after at least one batch")
    return seconds / batches_done * batches_per_epoch * epochs


def _hours_minutes(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60} min"


def long_run_warning(estimate_s: float, epochs: int, device: str) -> str | None:
    """The line to print when the estimate passes an hour, with what makes the run shorter; else None."""
    if estimate_s <= LONG_RUN_S:
        return None
    hints = "fewer --epochs, a smaller --image-size"
    if device == "cpu":
        hints += ", or a GPU (--device cuda)"
    return (f"estimated time: ~{_hours_minutes(estimate_s)} for {epochs} epoch{'s' if epochs != 1 else ''} on "
            f"{device}; for a shorter run use {hints}")
