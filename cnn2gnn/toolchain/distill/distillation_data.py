"""What any student distils on: the dataset, the preprocessing, the tensors and the teacher's cached logits.

Shared by the CNN2GNN student (``distill_student``) and the small-CNN baseline
(``cnn2gnn.toolchain.distill.distill_cnn_student``), so both see the same tensors and targets.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.dataset import RawDataset
from cnn2gnn.toolchain.data.tensors import TensorSplit, tensors_from_split
from cnn2gnn.toolchain.data.training_checks import require_trainable
from cnn2gnn.toolchain.distill.teacher_cache import cached_teacher_logits, teacher_cache_key
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from cnn2gnn.toolchain.training.distributed import join_world, sharded_logits
from cnn2gnn.toolchain.training.loop import TrainConfig, resolve_device, use_training_threads
from cnn2gnn.toolchain.training.train_teacher import preprocessing_for


@dataclass
class DistillationData:
    data: str
    dataset: RawDataset
    preprocessing: Preprocessing
    train: TensorSplit
    val: TensorSplit
    teacher_logits: Tensor | None  # (len(train), classes) on the CPU; None without a teacher
    teacher_sha256: str
    cache_status: str  # 'hit' | 'miss' | 'off'


def distillation_data(
    data: str | None,
    train_cfg: TrainConfig,
    teacher: Path | None,
    cache_dir: Path | None = None,
    image_size: int = 32,
) -> DistillationData:
    """With a teacher, data and preprocessing default to the teacher's, so teacher and student see the
    same tensors; without one the student is trained on labels alone at ``image_size``.
    Under torchrun the teacher logits are computed sharded over the ranks and gathered once."""
    use_training_threads()  # the teacher's logits run on the threads training will use
    world, device = join_world(resolve_device(train_cfg.device))
    world.local_batch_size(train_cfg.batch_size)  # refused now, not after minutes of teacher logits
    teacher_payload = load_checkpoint(teacher, kind="teacher") if teacher is not None else None
    if data is None:
        if teacher_payload is None:
            raise Cnn2GnnError("data is required without a teacher (there is no teacher dataset to default to)")
        data = teacher_payload.dataset_spec
    dataset = load_dataset(data, seed=train_cfg.seed)
    if teacher_payload is not None:
        pre = teacher_payload.preprocessing
        difference = class_list_difference(teacher_payload.class_names, dataset.class_names)
        if difference is not None:
            raise Cnn2GnnError(
                f"teacher {teacher} was trained on other classes than {data} has (teacher vs data: {difference}); "
                "distil on the teacher's dataset"
            )
        if teacher_payload.dataset.get("fingerprint") not in (None, dataset.fingerprint()) and world.is_main:
            print(f"warning: --data {data} is not the exact data teacher {teacher} was trained on "
                  f"({teacher_payload.dataset.get('spec')!r}: its content differs); distilling anyway", file=sys.stderr)
    else:
        pre = preprocessing_for(dataset.channels, image_size, None, None, "linear")
    require_trainable(dataset, pre)
    train = tensors_from_split(dataset.train, pre)
    val = tensors_from_split(dataset.val, pre)

    teacher_logits: Tensor | None = None
    cache_status = "off"
    teacher_sha = ""
    if teacher_payload is not None:
        teacher_sha = sha256_file(teacher)  # type: ignore[arg-type]
        if train_cfg.augment != "none":
            raise Cnn2GnnError(
                "student augmentation is not supported with a teacher (teacher logits are computed once per image); "
                "use --augment none"
            )
        teacher_model = model_from_checkpoint(teacher_payload).to(device)

        def compute() -> np.ndarray:
            logits = sharded_logits(teacher_model, train.x, train_cfg.eval_batch_size, device, 1, world,
                                    progress="teacher logits").numpy()
            if not np.isfinite(logits).all():  # checked before caching: a broken teacher leaves no cache entry
                raise Cnn2GnnError(
                    f"teacher {teacher} gives non-finite logits (NaN or Inf) on {data}; its weights are damaged: "
                    "use another teacher checkpoint"
                )
            return logits

        key = teacher_cache_key(dataset.fingerprint(), pre.to_dict(), teacher_sha, "train")
        logits_np, cache_status = cached_teacher_logits(cache_dir, key, compute, world)
        teacher_logits = torch.from_numpy(logits_np)
        del teacher_model
    return DistillationData(data, dataset, pre, train, val, teacher_logits, teacher_sha, cache_status)
