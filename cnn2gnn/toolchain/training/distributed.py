"""Training under ``torchrun`` on torch.distributed: the process group, the DDP wrapper, the collectives
the loop and the distillation data need, and a clear end to the run when another rank stops.

A world of one (no torchrun) takes none of these paths: every helper hands its input back unchanged, so a
one-process run trains exactly as before. In a world of W, every rank forms the same global batches (the
same seeded permutation as a one-process run) and trains on its share of each; DDP averages the
gradients, BatchNorm is synchronised across the ranks, so the W-process run is the one-process run up to
the order in which floats are summed.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import signal
from datetime import timedelta
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.toolchain.data.image_split import ImageSplit, split_rows
from cnn2gnn.toolchain.training.cpu_sync_batchnorm import convert_cpu_sync_batchnorm
from cnn2gnn.toolchain.training.evaluate import batch_slices, predict_logits
from cnn2gnn.toolchain.training.world import World, world_from_env

# torch.distributed backend per device type: NCCL between GPUs, Gloo between CPU processes.
BACKENDS = {"cuda": "nccl", "cpu": "gloo"}
# BatchNorm over the global batch: torch's own on CUDA, ours on the CPU (torch's is CUDA-only).
SYNC_BATCHNORM: dict[str, Callable[[nn.Module], nn.Module]] = {
    "cuda": nn.SyncBatchNorm.convert_sync_batchnorm,
    "cpu": convert_cpu_sync_batchnorm,
}
# Words a failed collective's RuntimeError carries (Gloo's, NCCL's, c10d's), told apart from real bugs.
_COLLECTIVE_ERROR_MARKS = ("gloo", "nccl", "c10d", "connection reset", "connection closed", "broken pipe")
RESUME_HINT = ("the run's last.pt still holds the last finished epoch: fix the cause and rerun the same torchrun "
               "command with --resume")


class PeerFailure(Cnn2GnnError):
    """Another rank of the run stopped (or hung past the timeout); raised on every rank still running."""


def join_world(device: torch.device) -> tuple[World, torch.device]:
    """This process's place in the run and the device it trains on: under torchrun the first call joins the
    process group (NCCL on CUDA, Gloo on the CPU) and picks GPU ``LOCAL_RANK``; later calls return the same."""
    world = world_from_env()
    if not world.distributed:
        return world, device
    if device.type not in BACKENDS:
        raise Cnn2GnnError(f"distributed training runs on {' or '.join(BACKENDS)}, not {device.type}")
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise Cnn2GnnError(
                f"LOCAL_RANK {world.local_rank} has no GPU (torch sees {torch.cuda.device_count()}); start at most "
                "one torchrun process per GPU (--nproc-per-node)"
            )
        device = torch.device("cuda", world.local_rank)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(BACKENDS[device.type], timeout=timedelta(seconds=world.timeout_s))
        signal.signal(signal.SIGTERM, _stopped_by_launcher)
        atexit.register(dist.destroy_process_group)
    return world, device


def _stopped_by_launcher(signum: int, frame: Any) -> None:
    # torchrun sends SIGTERM to the other ranks when one fails; say so instead of vanishing silently.
    world = world_from_env()
    raise PeerFailure(f"rank {world.rank} of {world.size}: torchrun stopped this process (SIGTERM), most often "
                      f"because another rank failed (its error is above); {RESUME_HINT}")


def _is_collective_failure(exc: BaseException) -> bool:
    dist_error = getattr(dist, "DistError", ())
    text = str(exc).lower()
    return isinstance(exc, dist_error) or any(mark in text for mark in _COLLECTIVE_ERROR_MARKS)


@contextlib.contextmanager
def peer_failures_end_the_run(world: World) -> Iterator[None]:
    """A collective that fails because another rank died or hung ends this rank with a ``PeerFailure``."""
    try:
        yield
    except RuntimeError as exc:
        if not (world.distributed and _is_collective_failure(exc)):
            raise
        first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise PeerFailure(
            f"rank {world.rank} of {world.size}: another rank of this run stopped or did not answer within "
            f"{world.timeout_s:g} s ({first_line}); {RESUME_HINT}"
        ) from None


def _comm(t: Tensor) -> Tensor:
    """NCCL exchanges CUDA tensors only; Gloo takes them where they are."""
    return t.cuda() if dist.get_backend() == "nccl" else t


def broadcast_object(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank (pickled: for small things such as flags and ids)."""
    if not world.distributed:
        return obj
    box = [obj]
    with peer_failures_end_the_run(world):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    with peer_failures_end_the_run(world):
        dist.all_gather_object(out, obj)
    return out


def all_reduce_sums(values: Sequence[float], world: World) -> list[float]:
    """Per-rank sums (loss, correct, seen) -> the sums over all ranks, in float64."""
    if not world.distributed:
        return list(values)
    t = _comm(torch.tensor(list(values), dtype=torch.float64))
    with peer_failures_end_the_run(world):
        dist.all_reduce(t)
    return t.cpu().tolist()


def sharded_logits(model: nn.Module, x: Tensor | ImageSplit, batch_size: int, device: torch.device, min_last: int,
                   world: World, progress: str = "", workers: int = 0, out: Tensor | None = None) -> Tensor:
    """``predict_logits`` with its batches dealt round-robin to the ranks and every row gathered on every
    rank. Each batch is the one a one-process run forms (a batch-mode graph sees the same neighbours), and
    rows a rank did not compute are zero in its share, so the all-reduced sum is exact. ``progress`` names
    a progress bar, which rank 0 shows over its share; ``workers`` and ``out`` as in ``predict_logits``
    (distributed, the gathered logits are held in memory once before they are copied into ``out``)."""
    if not world.distributed:
        return predict_logits(model, x, batch_size, device, min_last, progress, workers, out)
    slices = batch_slices(len(x), batch_size, min_last)[world.rank::world.size]
    batches = progress_bar(zip(slices, split_rows(x, slices, workers)), total=len(slices), desc=progress,
                           unit="batch", enabled=bool(progress) and world.is_main)
    mine = [(s, predict_logits(model, batch, s.stop - s.start, device)) for s, batch in batches]
    width = broadcast_object(mine[0][1].shape[1] if world.is_main else None, world)  # rank 0 has batch 0
    full = torch.zeros(len(x), width, dtype=torch.float32)
    for s, logits in mine:
        full[s] = logits
    full = _comm(full)
    with peer_failures_end_the_run(world):
        dist.all_reduce(full)
    if out is None:
        return full.cpu()
    out.copy_(full.cpu())
    return out


def wrap_for_training(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """The module the loop trains through: ``model`` itself in a world of one; else ``model`` with its
    BatchNorm synchronised (in place: ``model``'s own parameters and buffers stay those trained) inside
    DistributedDataParallel. Buffers are not re-broadcast each step: the anchor bank is constant, and
    synchronised BatchNorm gives every rank the same running statistics."""
    if not world.distributed:
        return model
    synced = SYNC_BATCHNORM[device.type](model)
    if synced is not model:
        raise Cnn2GnnError("a model whose root module is a BatchNorm layer cannot be trained distributed")
    from torch.nn.parallel import DistributedDataParallel

    # torch >= 2.13 names the switch forward_sync_buffers (broadcast_buffers warns); older ones only know the latter.
    no_buffer_sync = ({"forward_sync_buffers": False}
                      if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                      else {"broadcast_buffers": False})
    with peer_failures_end_the_run(world):
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                       **no_buffer_sync)


def rank_seed(seed: int, world: World) -> int:
    """The seed of this rank's own random stream (dropout, augmentation): rank 0 keeps ``seed``, so a
    one-process run draws exactly as before; the others get streams of their own."""
    if world.rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, world.rank]).generate_state(1, np.uint64)[0])


def run_record(world: World, global_batch: int, device: torch.device) -> dict[str, Any]:
    """What the run config records about the processes: world size, global and per-rank batch, backend."""
    return {"world_size": world.size, "global_batch_size": global_batch,
            "local_batch_size": world.local_batch_size(global_batch),
            "backend": BACKENDS[device.type] if world.distributed else None}
