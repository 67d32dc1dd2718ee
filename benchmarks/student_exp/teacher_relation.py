"""Experiment (issue 15): distil the teacher's feature geometry into the student's hidden features.

The held-out-class student (benchmarks/held_out_class.py's recipe, 9 of 10 classes) trained with one more loss
term: the mean squared difference between the cosine-similarity matrices of a batch's own-path hidden features
(the input to the last layer, without neighbours: the space of the exported novelty and of an enrolled class's
column) and of the teacher's penultimate features (its pooled last block) of the same images,

    L_rel = mean_ij (cos(h_i, h_j) - cos(t_i, t_j))^2      (``--mode centred``: both centred on the batch mean first)

weighted by ``--weight`` (0: the default student). The teacher scored 0.98 novelty AUROC with its max-softmax on
the larger set where the student's novelty scored 0.93: if the student's hidden space took the teacher's geometry,
its novelty and an enrolled class might do as well. Not a toolchain option: the term is added here by wrapping
`distill_student`'s training forward (the student's supervised-contrastive slot, `--contrastive`, carries it).

Reads a finished `benchmarks/open_set.py --work W` folder (its held-out data and 9-class teacher), trains into
``--out``, exports, and prints one JSON line: the student's last-epoch validation accuracy and loss, novelty and
max-softmax AUROC (validation and test, as open_set.py scores them) and enrolment of 5 / 10 / 20 images at class
weight 1 (new-class accuracy, old classes' drop in points, as enrolment.py). One thread, no augmentation, 15 epochs.

    OMP_NUM_THREADS=1 python benchmarks/open_set.py --data idx:runs/data/digits_large --image-size 28 \\
        --teacher-epochs 8 --student-epochs 15 --work W
    OMP_NUM_THREADS=1 python benchmarks/student_exp/teacher_relation.py --work W --out OUT \\
        --data idx:runs/data/digits_large --image-size 28 --weight 3 [--mode cos|centred]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

BENCHMARKS = Path(__file__).resolve().parents[1]


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-6)


def relation_loss(student: Tensor, teacher: Tensor, centred: bool) -> Tensor:
    """Mean squared difference of the two batches' cosine-similarity matrices."""
    s, t = student.float(), teacher.float()
    if centred:
        s, t = s - s.mean(0, keepdim=True), t - t.mean(0, keepdim=True)
    s, t = _unit(s), _unit(t)
    return ((s @ s.T - t @ t.T) ** 2).mean()


def train(args: argparse.Namespace) -> dict[str, Any]:
    """The held-out student with the relation term; returns its last epoch's validation numbers."""
    from held_out_class import STUDENT

    from cnn2gnn.toolchain.distill import distill_student as distill
    from cnn2gnn.toolchain.models.student import CNN2GNNStudent
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
    from cnn2gnn.toolchain.training.loop import TrainConfig

    teacher_path = args.work / "teacher" / "best.pt"
    state: dict[str, Any] = {}
    load_data, forward = distill.distillation_data, CNN2GNNStudent.forward

    def data_with_teacher_features(*a: Any, **k: Any) -> Any:
        inputs = load_data(*a, **k)
        teacher = model_from_checkpoint(load_checkpoint(teacher_path)).eval()
        with torch.no_grad():  # the training images unaugmented, in the split's order, as the cached logits
            state["features"] = torch.cat([teacher.pool(teacher.blocks(teacher.stem(inputs.train.images_at(chunk))))
                                           .flatten(1) for chunk in torch.arange(len(inputs.train)).split(256)])
        return inputs

    def forward_noting_ids(self: CNN2GNNStudent, x: Tensor, sample_ids: Tensor | None = None) -> Tensor:
        state["ids"] = sample_ids
        return forward(self, x, sample_ids)

    def relation_term(hidden: Tensor, labels: Tensor, temperature: float) -> Tensor:
        return relation_loss(hidden, state["features"][state["ids"]], args.mode == "centred")

    distill.distillation_data = data_with_teacher_features
    CNN2GNNStudent.forward = forward_noting_ids  # type: ignore[method-assign]
    distill.supervised_contrastive_loss = relation_term
    student = {**STUDENT, **({"contrastive": args.weight} if args.weight > 0 else {})}
    started = time.perf_counter()
    result = distill.distill_student(None, args.out / "student", TrainConfig(epochs=args.epochs, seed=args.seed),
                                     student, teacher_path, cache_dir=None, image_size=args.image_size,
                                     progress=False)
    last = result["history"][-1]
    return {"val_accuracy": last["val_accuracy"], "val_loss": round(last["val_loss"], 4),
            "train_s": round(time.perf_counter() - started)}


def score(args: argparse.Namespace) -> dict[str, Any]:
    """Novelty and max-softmax AUROC (open_set.py's sets) and enrolment at class weight 1 (enrolment.py's draw)."""
    from enrolment import SHOTS, accuracies
    from held_out_class import open_set_splits, predicted_names, write_folder
    from open_set import auroc

    from cnn2gnn.export.enrol_anchors import enrol_anchors
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
    from cnn2gnn.runtime.classifier import softmax
    from cnn2gnn.toolchain.data import load_dataset

    model = args.out / "student.onnx"
    onnx_from_checkpoint(args.out / "student" / "best.pt", model, parity_samples=64, progress=False)
    dataset = load_dataset(args.data, seed=args.seed)
    names = [str(n) for n in dataset.class_names]
    result: dict[str, Any] = {}
    for name, (images, unknown) in open_set_splits(dataset, args.held_out, args.out / "student" / "best.pt").items():
        _, outputs = predicted_names(model, images)
        for score_name, s in (("novelty", -outputs["novelty"]), ("max_softmax", softmax(outputs["logits"]).max(1))):
            result[f"{name}_{score_name}_auroc"] = round(auroc(s[~unknown], s[unknown]), 4)
    new = names[args.held_out]
    truth = np.array([names[int(v)] for v in dataset.test.labels])
    before = accuracies(model, dataset.test.images, truth, new)
    pool = np.where(dataset.train.labels == args.held_out)[0]
    rng = np.random.default_rng(args.seed)
    for shots in SHOTS:
        chosen = rng.choice(pool, size=min(shots, len(pool)), replace=False)
        folder = write_folder([dataset.train.images[i] for i in chosen], np.zeros(len(chosen), int), [new],
                              args.out / f"enrol_{shots}")
        enrolled = args.out / f"enrolled_{shots}.onnx"
        enrol_anchors(model, enrolled, images=folder / new, label=new)
        after = accuracies(enrolled, dataset.test.images, truth, new)
        result[f"enrol_{shots}"] = {"new_class": round(100 * after["new_class"], 1),
                                    "old_classes_drop_pt": round(100 * (before["old_classes"] - after["old_classes"]), 2)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="a finished benchmarks/open_set.py --work folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default="digits", help="the --data open_set.py ran on")
    parser.add_argument("--image-size", type=int, default=32, help="the --image-size open_set.py ran with")
    parser.add_argument("--held-out", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--weight", type=float, default=0.0, help="the relation term's weight (0: the default student)")
    parser.add_argument("--mode", choices=("cos", "centred"), default="cos")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCHMARKS))
    torch.set_num_threads(1)
    line = {"weight": args.weight, "mode": args.mode, "seed": args.seed, **train(args), **score(args)}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
