"""Which process of a ``torchrun`` launch this one is, read once from torchrun's environment (torch-free).

torchrun starts one process per device and tells each its place in ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; a plain ``cnn2gnn ...`` has none of them and is the one process of a world of one.
``CNN2GNN_DIST_TIMEOUT_S`` bounds how long a collective waits for a rank that hangs (default 600 s:
longer than rank 0 alone needs to write a checkpoint, short enough that a hung run ends).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from cnn2gnn.contracts.errors import Cnn2GnnError

DEFAULT_COLLECTIVE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    timeout_s: float = DEFAULT_COLLECTIVE_TIMEOUT_S

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs and writes checkpoints, history and caches."""
        return self.rank == 0

    def local_batch_size(self, global_batch: int) -> int:
        """``--batch-size`` is the global batch, split evenly over the ranks; a size the world does not divide
        is refused (the ranks would otherwise train on different batch sizes than a one-process run)."""
        if global_batch % self.size:
            lower, upper = global_batch // self.size * self.size, (global_batch // self.size + 1) * self.size
            raise Cnn2GnnError(
                f"--batch-size {global_batch} is the global batch, split over the {self.size} processes of this "
                f"torchrun run, and {self.size} does not divide it; use a multiple of {self.size}, e.g. "
                f"{lower or upper} or {upper}"
            )
        return global_batch // self.size


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise Cnn2GnnError(f"environment variable {name}={text!r} must be an integer >= {minimum} (torchrun sets it)")
    return value


def world_from_env(env: Mapping[str, str] = os.environ) -> World:
    size = _env_int(env, "WORLD_SIZE", 1, 1)
    rank = _env_int(env, "RANK", 0, 0)
    if rank >= size:
        raise Cnn2GnnError(f"RANK={rank} is not below WORLD_SIZE={size}; launch with torchrun, which sets both")
    timeout_text = env.get("CNN2GNN_DIST_TIMEOUT_S", str(DEFAULT_COLLECTIVE_TIMEOUT_S))
    try:
        timeout_s = float(timeout_text)
    except ValueError:
        timeout_s = -1.0
    if not timeout_s > 0:
        raise Cnn2GnnError(f"CNN2GNN_DIST_TIMEOUT_S={timeout_text!r} must be a positive number of seconds")
    return World(rank=rank, size=size, local_rank=_env_int(env, "LOCAL_RANK", 0, 0), timeout_s=timeout_s)
