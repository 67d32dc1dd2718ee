"""What any student distils on: the dataset, the preprocessing, the tensors and the teacher's cached logits.

Shared by the CNN2GNN student (``distill_student``) and the small-CNN baseline
(``cnn2gnn.toolchain.distill.distill_cnn_student``), so both see the same tensors and targets.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data.dataset import RawDataset
from cnn2gnn.toolchain.data.image_split import ImageSplit
from cnn2gnn.toolchain.data.spec import ClassNames, class_names_for
from cnn2gnn.toolchain.data.training_data import training_data
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
    train: ImageSplit
    val: ImageSplit
    teacher_logits: Tensor | None  # (len(train), classes) on the CPU, memory-mapped when cached; None without a teacher
    teacher_sha256: str
    cache_status: str  # 'hit' | 'miss' | 'off'
    # The frozen teacher itself when training augments (teacher logits of an augmented batch are computed
    # on the fly); None otherwise, when the cached logits of the unaugmented images are the targets.
    online_teacher: nn.Module | None = None

    def teacher_targets(self, device: torch.device) -> Callable[[Tensor, Tensor], Tensor | None]:
        """``(x, sample_ids) -> teacher logits`` of the batch ``x`` (None without a teacher)."""
        online = self.online_teacher
        if online is not None:
            def computed(x: Tensor, sample_ids: Tensor) -> Tensor | None:
                with torch.no_grad():
                    return online(x).float()

            return computed
        cached = self.teacher_logits.to(device) if self.teacher_logits is not None else None  # once, not per step
        return lambda x, sample_ids: cached[sample_ids] if cached is not None else None


def distillation_data(
    data: str | None,
    train_cfg: TrainConfig,
    teacher: Path | None,
    cache_dir: Path | None = None,
    image_size: int = 32,
    class_names: Path | None = None,
) -> DistillationData:
    """With a teacher, data and preprocessing default to the teacher's, so teacher and student see the
    same tensors; without one the student is trained on labels alone at ``image_size``. ``class_names``:
    a names file replacing the dataset's own names (default: the teacher's names on the teacher's data).
    Under torchrun the teacher logits are computed sharded over the ranks and gathered once."""
    use_training_threads()  # the teacher's logits run on the threads training will use
    world, device = join_world(resolve_device(train_cfg.device))
    world.local_batch_size(train_cfg.batch_size)  # refused now, not after minutes of teacher logits
    teacher_payload = load_checkpoint(teacher, kind="teacher") if teacher is not None else None
    names: ClassNames = class_names
    if teacher_payload is not None:
        names = class_names_for(class_names, data, teacher_payload.class_names)
        data = data or teacher_payload.dataset_spec
    if data is None:
        raise Cnn2GnnError("data is required without a teacher (there is no teacher dataset to default to)")
    inputs = training_data(
        data, train_cfg.seed,
        lambda found: teacher_payload.preprocessing if teacher_payload is not None
        else preprocessing_for(found, image_size, None, None, "linear"),
        train_cfg.stream, train_cfg.workers, names, log=world.is_main)
    dataset, pre = inputs.dataset, inputs.preprocessing
    if teacher_payload is not None:
        difference = class_list_difference(teacher_payload.class_names, dataset.class_names)
        if difference is not None:
            raise Cnn2GnnError(
                f"teacher {teacher} was trained on other classes than {data} has (teacher vs data: {difference}); "
                "distil on the teacher's dataset, with its --class-names file if it was trained with one"
            )
        if teacher_payload.dataset.get("fingerprint") not in (None, dataset.fingerprint()) and world.is_main:
            if teacher_payload.dataset_spec == data and teacher_payload.train_seed != train_cfg.seed:
                print(f"warning: teacher {teacher} was trained with --seed {teacher_payload.train_seed}, this run has "
                      f"--seed {train_cfg.seed}: the seed draws the split, so the student's validation images may be "
                      f"ones the teacher trained on; pass --seed {teacher_payload.train_seed} to distil on its split",
                      file=sys.stderr)
            else:
                print(f"warning: --data {data} is not the exact data teacher {teacher} was trained on "
                      f"({teacher_payload.dataset.get('spec')!r}: its content differs); distilling anyway",
                      file=sys.stderr)
    train, val = inputs.split("train"), inputs.split("val")

    teacher_logits: Tensor | None = None
    online_teacher: nn.Module | None = None
    cache_status = "off"
    teacher_sha = ""
    if teacher_payload is not None:
        teacher_sha = sha256_file(teacher)  # type: ignore[arg-type]
        teacher_model = model_from_checkpoint(teacher_payload).to(device).eval()

        def fill(logits: np.ndarray) -> None:
            sharded_logits(teacher_model, train, train_cfg.eval_batch_size, device, 1, world, progress="teacher logits",
                           workers=train_cfg.workers, out=torch.from_numpy(logits))
            if not np.isfinite(logits).all():  # checked before caching: a broken teacher leaves no cache entry
                raise Cnn2GnnError(
                    f"teacher {teacher} gives non-finite logits (NaN or Inf) on {data}; its weights are damaged: "
                    "use another teacher checkpoint"
                )

        key = teacher_cache_key(dataset.fingerprint(), pre.to_dict(), teacher_sha, "train")
        shape = (len(train), len(dataset.class_names))
        logits_np, cache_status = cached_teacher_logits(cache_dir, key, shape, fill, world)
        teacher_logits = torch.from_numpy(logits_np)
        if train_cfg.augment != "none":
            # An augmented image is another image: its teacher logits are computed as it is drawn, in the
            # same forward the batch takes (the cached ones still serve the anchors' soft labels).
            for parameter in teacher_model.parameters():
                parameter.requires_grad_(False)
            online_teacher = teacher_model
    return DistillationData(data, dataset, pre, train, val, teacher_logits, teacher_sha, cache_status, online_teacher)
