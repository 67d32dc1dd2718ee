"""How many CPU threads the compute libraries get: ``OMP_NUM_THREADS`` when the user sets it, otherwise a
stated default per stage (see :func:`training_threads`; ONNX Runtime keeps its own, one per physical core).

The thread count changes speed and, through reduction order, results; on a shared or busy machine the
library defaults oversubscribe the cores. Resolving it here, and recording what was used, makes a run's
numbers reproducible."""

from __future__ import annotations

import os
from typing import Mapping

from cnn2gnn.contracts.errors import Cnn2GnnError

THREADS_ENV = "OMP_NUM_THREADS"
# Training's default cap: small conv / graph batches on the CPU gain little past 4 threads, and more
# threads on a machine others share slow every epoch down.
TRAINING_THREADS_CAP = 4


def threads_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """``OMP_NUM_THREADS`` as a positive int (its first level if it lists nested ones), or None when unset."""
    raw = (os.environ if environ is None else environ).get(THREADS_ENV, "").strip()
    if not raw:
        return None
    first = raw.split(",")[0].strip()
    if not first.isdigit() or int(first) < 1:
        raise Cnn2GnnError(f"{THREADS_ENV}={raw!r} is not a positive whole number; set it to e.g. 4, or unset it")
    return int(first)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def training_threads(environ: Mapping[str, str] | None = None, cores: int | None = None) -> int:
    """Torch's intra-op threads for training: ``OMP_NUM_THREADS`` when set, else min(4, usable cores)."""
    from_env = threads_from_env(environ)
    if from_env is not None:
        return from_env
    return min(TRAINING_THREADS_CAP, usable_cores() if cores is None else max(1, cores))
