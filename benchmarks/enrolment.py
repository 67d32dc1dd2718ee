"""Enrolment without retraining: train on 9 of 10 classes, enrol 5 / 10 / 20 images of the held-out one.

Reports the new class's test accuracy and the old classes' accuracy before and after each enrolment, and the
time `enroll` takes on the CPU (one process, ONNX Runtime CPU). Each enrolment is made at every
``--class-weights`` value (`enroll --class-weight`: the new class's share of its fit against an average class's;
1, equal priors, is the default and what the target is checked at; lower values show the trade-off). The
models: the digits recipe of held_out_class.py (the conv-stem lp student with a memory bank of every training
image). Target (issue 15): >= 80% on the new class with 20 images while the old classes lose <= 1 pt. Writes
benchmarks/results/enrolment_<data>.json (``--contrastive W``: the student trained with that term,
``enrolment_<data>_contrastive<W>.json``; ``--seed S`` other than 0 adds ``_seed<S>``; ``--quick``: tiny models,
a few epochs, results under --work only: a smoke test, not a measurement).

    OMP_NUM_THREADS=1 python benchmarks/enrolment.py [--data digits] [--held-out 9] [--seed 0] [--quick]
        [--class-weights 1,0.5,0.25] [--contrastive W]
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_out_class import dataset_name, held_out_arguments, predicted_names, train_without, write_folder  # noqa: E402

from cnn2gnn.contracts.atomic_io import atomic_write_json  # noqa: E402
from cnn2gnn.export.enrol_anchors import enrol_anchors  # noqa: E402
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint  # noqa: E402

SHOTS = (5, 10, 20)


def accuracies(model: Path, images: list[np.ndarray], truth: np.ndarray, new: str) -> dict[str, float]:
    names, _ = predicted_names(model, images)
    is_new = truth == new
    return {"new_class": float((names[is_new] == new).mean()), "old_classes": float((names[~is_new] == truth[~is_new]).mean())}


def main() -> None:
    args = held_out_arguments(__doc__, "enrolment_", class_weights=True)
    work = args.work
    trained = train_without(args.data, args.held_out, work, args.seed, args.quick, args.image_size, epochs=args.epochs,
                            student_settings=args.student)
    dataset, names = trained["dataset"], trained["names"]
    new = names[args.held_out]
    model = work / "student.onnx"
    onnx_from_checkpoint(trained["student"], model, parity_samples=64, progress=False)
    test = dataset.test
    truth = np.array([names[int(v)] for v in test.labels])
    before = accuracies(model, test.images, truth, new)
    pool = np.where(dataset.train.labels == args.held_out)[0]
    rng = np.random.default_rng(args.seed)
    rows = []
    for shots in SHOTS:
        chosen = rng.choice(pool, size=min(shots, len(pool)), replace=False)
        folder = write_folder([dataset.train.images[i] for i in chosen], np.zeros(len(chosen), int), [new],
                              work / f"enrol_{shots}")
        for weight in args.class_weights:
            enrolled = work / f"enrolled_{shots}_w{weight:g}.onnx"
            t0 = time.perf_counter()
            report = enrol_anchors(model, enrolled, images=folder / new, label=new, class_weight=weight)
            seconds = time.perf_counter() - t0
            after = accuracies(enrolled, test.images, truth, new)
            rows.append({"images": int(len(chosen)), "class_weight": weight, "enrol_seconds": round(seconds, 3), **after,
                         "old_classes_drop_pt": round(100 * (before["old_classes"] - after["old_classes"]), 2),
                         "fit": report["class_fits"][new], "bank": report["after"]})
            print(f"{shots:>3} images, class weight {weight:g}: new class {100 * after['new_class']:.1f}%, old classes "
                  f"{100 * after['old_classes']:.2f}% (before {100 * before['old_classes']:.2f}%), enrol {seconds:.2f} s")
    result = {"data": args.data, "held_out": new, "seed": args.seed, "quick": args.quick, "before": before,
              "enrolments": rows, "train_seconds": {"teacher": trained["teacher_s"], "student": trained["student_s"]},
              "recipe": trained["recipe"], "machine": platform.platform(), "test_images": int(len(truth))}
    out = (work if args.quick else Path(__file__).parent / "results") / f"enrolment_{dataset_name(args.data)}{args.suffix}.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
