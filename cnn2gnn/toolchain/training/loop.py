"""One training loop for teachers and students: seeds, progress, validation, best/last checkpoints, resume."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.calibration_set import key_differences
from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.progress import progress_bar
from cnn2gnn.contracts.setting_ranges import MAX_SEED, require_float_in, require_int_in
from cnn2gnn.contracts.thread_count import training_threads
from cnn2gnn.toolchain.data.image_split import ImageSplit, image_batches
from cnn2gnn.toolchain.data.tensors import AUGMENTATIONS, augment_batch
from cnn2gnn.toolchain.data.training_data import STREAM_MODES
from cnn2gnn.toolchain.models.registry import resolved_model_config
from cnn2gnn.toolchain.training.checkpoint import Checkpoint, TrainingState, load_checkpoint, save_checkpoint
from cnn2gnn.toolchain.training.distributed import (
    all_reduce_sums,
    join_world,
    peer_failures_end_the_run,
    rank_seed,
    run_record,
    sharded_logits,
    wrap_for_training,
)
from cnn2gnn.toolchain.training.evaluate import batch_slices
from cnn2gnn.toolchain.training.mixed_precision import AMP_DTYPES, mixed_precision
from cnn2gnn.toolchain.training.time_estimate import ESTIMATE_AFTER_BATCHES, estimated_run_seconds, long_run_warning

DEVICES = ("auto", "cpu", "cuda")
# Upper bounds that only catch typos (an extra zero or two); real runs stay far below them.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1_000_000
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 10.0
SELECTIONS = ("last", "val_loss", "val_accuracy")
MAX_WORKERS = 256
# What a run writes into its folder: a new run replaces all of them.
RUN_FILES = ("best.pt", "last.pt", "history.json", "metrics.json", "config.json")


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    augment: str = "none"
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 256
    # Which epoch best.pt keeps: "last" (the schedule's end, lr at 0: measured as good or better than either
    # validation pick for every model of the report, because a model that keeps learning grows confident and
    # its validation loss can be lowest in an early, undertrained epoch), "val_loss" (lowest validation
    # cross-entropy) or "val_accuracy" (highest, lower loss breaks ties; ties often on a small split).
    select: str = "last"
    amp: str = "off"  # off | bf16 | fp16 (CUDA only)
    channels_last: bool = False  # NHWC memory format for CNNs (faster convolutions on tensor-core GPUs)
    stream: str = "auto"  # image files decoded batch by batch: on | off | auto (above a size threshold)
    workers: int = 0  # DataLoader processes decoding a streamed split's next batches (0: in this process)

    def __post_init__(self) -> None:
        require_int_in("epochs (--epochs)", self.epochs, 1, MAX_EPOCHS)
        require_int_in("batch size (--batch-size)", self.batch_size, 1, MAX_BATCH_SIZE)
        require_float_in("learning rate lr (--lr)", self.lr, 0.0, MAX_LR, low_open=True)
        require_float_in("weight decay (--weight-decay)", self.weight_decay, 0.0, MAX_WEIGHT_DECAY)
        require_int_in("warmup_epochs", self.warmup_epochs, 0, MAX_EPOCHS)
        require_int_in("seed (--seed)", self.seed, 0, MAX_SEED)
        require_int_in("eval_batch_size", self.eval_batch_size, 1, MAX_BATCH_SIZE)
        require_int_in("data loader workers (--workers)", self.workers, 0, MAX_WORKERS)
        if self.stream not in STREAM_MODES:
            raise Cnn2GnnError(f"streaming (--stream) must be one of {' | '.join(STREAM_MODES)}, got {self.stream!r}")
        if self.augment not in AUGMENTATIONS:
            raise Cnn2GnnError(
                f"augmentation (--augment) {self.augment!r} unknown; use one of {' | '.join(AUGMENTATIONS)}"
            )
        if self.amp not in AMP_DTYPES:
            raise Cnn2GnnError(f"mixed precision (--amp) must be one of {' | '.join(AMP_DTYPES)}, got {self.amp!r}")
        if self.device not in DEVICES:
            raise Cnn2GnnError(f"device (--device) must be one of {' | '.join(DEVICES)}, got {self.device!r}")
        if self.select not in SELECTIONS:
            raise Cnn2GnnError(
                f"checkpoint selection (--select) {self.select!r} unknown; use one of {' | '.join(SELECTIONS)}"
            )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise Cnn2GnnError("device cuda asked for, but torch sees no CUDA GPU; use device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise Cnn2GnnError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to zero."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def use_training_threads() -> int:
    """Set torch's intra-op threads to the training default (``OMP_NUM_THREADS``, else min(4, cores)) and
    return it: torch's own default, every core, is slower on a machine others share and changes results."""
    threads = training_threads()
    torch.set_num_threads(threads)
    return threads


# (model, x, y, ids) -> (loss, logits); the caller decides what a batch's loss is (CE, distillation, ...)
LossFn = Callable[[nn.Module, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def require_unfinished_run(out_dir: Path, epochs: int) -> None:
    """--resume of a run whose last.pt holds its final epoch already is refused, before a caller loads data or
    computes teacher logits for it (``fit`` checks the rest of the resume: model config, run settings)."""
    last_path = out_dir / "last.pt"
    if not last_path.is_file():
        return  # fit says so, with what to do instead
    state = load_checkpoint(last_path).training
    if state is not None:
        _refuse_finished(last_path, state.epoch + 1, epochs)


def _refuse_finished(last_path: Path, finished: int, epochs: int) -> None:
    if finished >= epochs:
        raise Cnn2GnnError(f"--resume: {last_path} already finished epoch {finished}/{epochs}; raise --epochs")


def fit(
    model: nn.Module,
    train: ImageSplit,
    val: ImageSplit,
    loss_fn: LossFn,
    cfg: TrainConfig,
    out_dir: Path,
    checkpoint: Checkpoint,
    resume: bool = False,
    progress: bool = True,
    min_batch: int = 1,
    on_epoch_start: Callable[[nn.Module, int], None] | None = None,
    resume_invariants: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Train, validating each epoch; writes ``config.json`` (``checkpoint.run_config``) once the run
    starts, ``last.pt`` every epoch and ``best.pt`` as ``cfg.select`` says: every epoch with "last" (so an
    interrupted run still has one), else on a new best validation loss or accuracy; ``best_val_accuracy`` is the
    accuracy of that epoch. ``checkpoint`` holds what
    every save shares (kind, model config, preprocessing, class names, run config, ...); each save adds
    the weights and the training state. ``on_epoch_start(model, epoch)`` runs before each epoch's
    batches (e.g. to refresh a student's anchor bank). ``resume_invariants``: run-config keys a resumed run must
    share with ``last.pt``, each with the option that sets it (distillation: its teacher and loss weights).
    A last batch (train or val) smaller than ``min_batch`` joins the one before it (a batch-mode graph
    needs ``GraphSpec.min_batch`` samples). Returns the history and best metrics.
    Under torchrun every rank runs this with the same arguments (see ``distributed``): ``cfg.batch_size``
    is the global batch, and rank 0 alone prints and writes files."""
    from tqdm import tqdm

    threads = use_training_threads()
    world, device = join_world(resolve_device(cfg.device))
    world.local_batch_size(cfg.batch_size)  # refuses a batch the world does not divide
    precision = mixed_precision(cfg.amp, device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to(device, memory_format=memory_format)
    trained = wrap_for_training(model, world, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Global batches; each rank takes every W-th sample of each, so a batch-mode graph needs W * min_batch.
    batches = batch_slices(len(train), cfg.batch_size, min_batch * world.size)
    steps_per_epoch = len(batches)
    total_steps = cfg.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, cfg.warmup_epochs * steps_per_epoch)
    )
    history: list[dict[str, Any]] = []
    best_acc, best_loss, best_epoch, start_epoch = -1.0, math.inf, -1, 0
    last_path = out_dir / "last.pt"
    if resume:
        if not last_path.is_file():
            raise Cnn2GnnError(f"--resume: no {last_path} to resume from; run without --resume to start fresh "
                               "(with --overwrite if the folder holds a finished run's best.pt)")
        last = load_checkpoint(last_path)
        then_model, now_model = resolved_model_config(last.model_config), resolved_model_config(checkpoint.model_config)
        if then_model != now_model:
            changed = "; ".join(key_differences(then_model, now_model))
            raise Cnn2GnnError(f"--resume: {last_path} was made with another model config ({changed}); resume with the "
                               "run's settings or use a new --out directory")
        _require_same_run(last, checkpoint, cfg, last_path, resume_invariants or {})
        state = last.training
        if state is None or state.optimizer is None or state.scheduler is None:
            raise Cnn2GnnError(
                f"--resume: {last_path} holds no optimizer state (not a last.pt); use a new --out directory"
            )
        model.load_state_dict(last.state_dict)  # every rank reads the same last.pt
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        if state.grad_scaler:
            precision.scaler.load_state_dict(state.grad_scaler)
        history = state.history
        best_acc, best_epoch, best_loss = state.best_val_accuracy, state.best_epoch, state.best_val_loss
        start_epoch = state.epoch + 1
        _refuse_finished(last_path, start_epoch, cfg.epochs)

    if checkpoint.run_config:
        checkpoint = replace(checkpoint, run_config={**checkpoint.run_config,
                                                     "distributed": run_record(world, cfg.batch_size, device),
                                                     "torch_threads": threads})
    if not resume and world.is_main:
        # A fresh run in a folder holding an older one (--overwrite): the older run's results go as this one starts,
        # so an interrupted run never leaves them beside this run's config.json, presented as its own.
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
    if checkpoint.run_config and world.is_main:  # after the resume checks: a refused --resume keeps config.json
        write_resolved_config(out_dir, checkpoint.run_config)
    progress = progress and world.is_main
    for epoch in range(start_epoch, cfg.epochs):
        # Seeds derive from (seed, epoch) so a resumed run draws the same batches as an unbroken one; every
        # rank draws the same permutation (the global batches), and dropout and augmentation from its own stream.
        epoch_seed = cfg.seed * 100_003 + epoch
        torch.manual_seed(rank_seed(epoch_seed, world))
        gen = torch.Generator().manual_seed(epoch_seed)
        order = torch.randperm(len(train), generator=gen)
        if on_epoch_start is not None:  # e.g. refresh the student's anchor bank (k-means prototypes)
            on_epoch_start(model, epoch)
        augment_gen = gen if world.is_main else torch.Generator().manual_seed(rank_seed(epoch_seed, world))
        trained.train()
        t0 = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = progress_bar(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, enabled=progress,
                           unit="batch")
        shares = [order[batch][world.rank::world.size] for batch in batches]  # this rank's share of each batch
        with peer_failures_end_the_run(world):
            # Augmented here, not in the workers: one generator stream per rank keeps a streamed run's batches
            # bitwise those of an in-memory one, and a resumed run's those of an unbroken one.
            for step, (batch, idx, images) in enumerate(zip(bar, shares, image_batches(train, shares, cfg.workers)),
                                                        start=1):
                x = augment_batch(images, cfg.augment, augment_gen).to(device, memory_format=memory_format)
                y, ids = train.y[idx].to(device), train.ids[idx].to(device)
                with precision.autocast():
                    loss, logits = loss_fn(trained, x, y, ids)
                if not torch.isfinite(loss):
                    raise Cnn2GnnError(
                        f"training diverged in epoch {epoch + 1}: the loss is {float(loss.detach())} (lr {cfg.lr:g}); "
                        f"lower --lr or check the data for broken images. {out_dir} keeps the checkpoints of the "
                        "epochs before"
                    )
                optimizer.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients; weighting by this rank's share of the global batch makes
                # that the global-batch mean even when the last batch does not split evenly (1.0 in one process).
                precision.backward_and_step(loss * (len(idx) * world.size / (batch.stop - batch.start)), optimizer)
                scheduler.step()
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(idx)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
                if progress and epoch == start_epoch and step == min(ESTIMATE_AFTER_BATCHES, steps_per_epoch):
                    estimate = estimated_run_seconds(time.perf_counter() - t0, step, steps_per_epoch,
                                                     cfg.epochs - start_epoch)
                    warning = long_run_warning(estimate, cfg.epochs - start_epoch, str(device))
                    if warning:
                        tqdm.write(warning, file=sys.stderr)
            bar.close()
            loss_sum, correct, seen = all_reduce_sums([loss_sum, correct, seen], world)
            val_logits = sharded_logits(model, val, cfg.eval_batch_size, device, min_batch, world,
                                        workers=cfg.workers)
        val_acc = float((val_logits.argmax(1) == val.y).float().mean())
        val_loss = float(torch.nn.functional.cross_entropy(val_logits, val.y))
        record = {
            "epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
            "val_accuracy": val_acc, "val_loss": val_loss, "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - t0,
        }
        history.append(record)
        # With select="val_accuracy" the lower loss only breaks accuracy ties. The first epoch always
        # counts, so a run whose validation loss is not finite still has a best.pt.
        if cfg.select == "last":
            improved = True
        elif cfg.select == "val_loss":
            improved = val_loss < best_loss or best_epoch < 0
        else:
            improved = val_acc > best_acc or (val_acc == best_acc and val_loss < best_loss)
        if improved:
            best_acc, best_loss, best_epoch = val_acc, val_loss, epoch + 1
        if progress:  # rank 0 only
            tqdm.write(
                f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {record['train_loss']:.4f}  train acc {record['train_accuracy']:.4f}"
                f"  val acc {val_acc:.4f}{'  *best*' if improved else ''}  ({record['seconds']:.1f}s)",
                file=sys.stderr,  # stdout carries the result (--json) alone
            )
        if not world.is_main:
            continue
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        state = TrainingState(epoch=epoch, history=history, best_val_accuracy=best_acc, best_val_loss=best_loss,
                              best_epoch=best_epoch, train_config=asdict(cfg))
        if improved:
            save_checkpoint(out_dir / "best.pt", replace(checkpoint, state_dict=weights, training=state))
        save_checkpoint(last_path, replace(checkpoint, state_dict=weights, training=replace(
            state, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
            grad_scaler=precision.scaler.state_dict() or None)))
        atomic_write_json(out_dir / "history.json", history)
    summary = {"best_val_accuracy": best_acc, "best_epoch": best_epoch, "epochs": cfg.epochs, "history": history}
    if world.is_main:
        atomic_write_json(out_dir / "metrics.json", {k: v for k, v in summary.items() if k != "history"})
    return summary


# Settings a resumed run may change: more epochs, another device, more or fewer data loader processes.
RESUMABLE_CHANGES = ("epochs", "device", "workers")


def _require_same_run(last: Checkpoint, checkpoint: Checkpoint, cfg: TrainConfig, last_path: Path,
                      invariants: Mapping[str, str]) -> None:
    """--resume continues the run in last.pt only with its data, preprocessing and training settings."""
    # Names alone also change the fingerprint; said first, so a changed --class-names is not called other data.
    renamed = class_list_difference(last.class_names, checkpoint.class_names)
    if renamed is not None:
        raise Cnn2GnnError(
            f"--resume: {last_path} was trained with other class names (then vs now: {renamed}); its checkpoints "
            "would disagree with its first epochs: resume with the run's --class-names (none if it had none) or "
            "use a new --out"
        )
    # Said before the data: the seed also draws the split, so a changed --seed would be called other data.
    recorded = last.training.train_config if last.training else {}
    for name, value in asdict(cfg).items():
        if name not in RESUMABLE_CHANGES and name in recorded and recorded[name] != value:
            raise Cnn2GnnError(
                f"--resume: {last_path} was trained with {name}={recorded[name]!r}, now {value!r}; resume with the "
                "run's settings (only --epochs, --device and --workers may change) or use a new --out"
            )
    if last.dataset.get("fingerprint") != checkpoint.dataset.get("fingerprint"):
        raise Cnn2GnnError(
            f"--resume: {last_path} was trained on other data ({last.dataset.get('spec')!r}, now "
            f"{checkpoint.dataset.get('spec')!r} with different content); resume with the run's --data or use a "
            "new --out"
        )
    if last.preprocessing != checkpoint.preprocessing:
        raise Cnn2GnnError(
            f"--resume: {last_path} was trained with preprocessing {last.preprocessing.to_dict()}, now "
            f"{checkpoint.preprocessing.to_dict()}; resume with the run's settings or use a new --out"
        )
    for name, option in invariants.items():
        then, now = last.run_config.get(name), checkpoint.run_config.get(name)
        if then != now:
            raise Cnn2GnnError(f"--resume: {last_path} was trained with {name} {then!r}, now {now!r}; resume with the "
                               f"run's {option} or use a new --out")


def write_resolved_config(out_dir: Path, config: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(out_dir / "config.json", json.loads(json.dumps(config, default=str)))
