"""Shared by benchmarks/enrolment.py and benchmarks/open_set.py: train on every class but one.

The held-out class is removed by writing the dataset's train + val images of the other classes as an
image folder (``imagefolder:PATH``, which the toolchain splits again by the run's seed); evaluation
uses the full dataset's own test split, and enrolment images come from the held-out class's train
split, so no evaluated image was ever trained on or enrolled.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.distill.distill_student import distill_student
from cnn2gnn.toolchain.training.loop import TrainConfig
from cnn2gnn.toolchain.training.train_teacher import train_teacher

# The realistic digits recipe: the `train-teacher` defaults (resnet8, width 32, 20 epochs, 32x32) and the
# conv-stem student with the label-propagation term enrolment needs and a memory bank of every training image.
FULL = {"teacher_epochs": 20, "student_epochs": 30, "width": 32}
QUICK = {"teacher_epochs": 2, "student_epochs": 3, "width": 8}
STUDENT = {"stem": "conv", "stem_widths": [16, 32, 32], "hidden": 64, "proj_dim": 32, "k": 10, "label_mode": "lp",
           "label_targets": "teacher", "num_anchors": 4096, "anchor_features": "memory"}
QUICK_STUDENT = {"stem_widths": [8, 8], "hidden": 32, "proj_dim": 16, "num_anchors": 64}


def write_folder(images: list[np.ndarray], labels: np.ndarray, names: list[str], folder: Path) -> Path:
    import cv2

    for i, (image, label) in enumerate(zip(images, labels)):
        sub = folder / names[int(label)]
        sub.mkdir(parents=True, exist_ok=True)
        bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(sub / f"{i:06d}.png"), bgr)
    return folder


def train_without(data: str, held_out: int, work: Path, seed: int, quick: bool, image_size: int,
                  small_cnn: bool = False, epochs: dict[str, int | None] | None = None,
                  student_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Teacher and lp student (and with ``small_cnn`` the distilled CNN of the student's FLOPs) trained on every
    class but ``held_out``; returns their checkpoints and timings. ``epochs`` overrides the preset's
    ``teacher_epochs`` / ``student_epochs`` (None keeps it); ``student_settings`` override the student's."""
    sizes = {**(QUICK if quick else FULL), **{k: v for k, v in (epochs or {}).items() if v is not None}}
    dataset = load_dataset(data, seed=seed)
    names = [str(n) for n in dataset.class_names]
    kept = []
    for split in (dataset.train, dataset.val):
        keep = np.where(split.labels != held_out)[0]
        kept += [(split.images[i], split.labels[i]) for i in keep]
    folder = write_folder([k[0] for k in kept], np.array([k[1] for k in kept]), names, work / "data")
    spec = f"imagefolder:{folder}"
    t0 = time.perf_counter()
    teacher = train_teacher(spec, work / "teacher", TrainConfig(epochs=sizes["teacher_epochs"], seed=seed),
                            width=sizes["width"], image_size=image_size, progress=False)
    t1 = time.perf_counter()
    student_cfg = {**STUDENT, **(QUICK_STUDENT if quick else {}), **(student_settings or {})}
    train_cfg = TrainConfig(epochs=sizes["student_epochs"], seed=seed)
    student = distill_student(None, work / "student", train_cfg, student_cfg, Path(teacher["best_checkpoint"]),
                              cache_dir=None, image_size=image_size, progress=False)
    t2 = time.perf_counter()
    recipe = {"image_size": image_size, "teacher": {"arch": "resnet8", "width": sizes["width"],
                                                    "epochs": sizes["teacher_epochs"]},
              "student": {**student_cfg, "epochs": sizes["student_epochs"]}}
    out = {"dataset": dataset, "names": names, "recipe": recipe, "teacher": Path(teacher["best_checkpoint"]),
           "student": Path(student["best_checkpoint"]), "teacher_s": t1 - t0, "student_s": t2 - t1}
    if small_cnn:
        from cnn2gnn.toolchain.distill.distill_cnn_student import distill_cnn_student
        from comparison.seed_run import small_cnn_widths

        widths = small_cnn_widths(out["student"])[0]
        cnn = distill_cnn_student(None, work / "small_cnn", train_cfg, widths, out["teacher"], cache_dir=None,
                                  image_size=image_size, progress=False)
        out.update(small_cnn=Path(cnn["best_checkpoint"]), small_cnn_widths=widths,
                   small_cnn_s=time.perf_counter() - t2)
    return out


def validation_split(checkpoint: Path) -> list[np.ndarray]:
    """The images of a checkpoint's own validation split (its data spec split by its seed), unprocessed."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    return list(load_dataset(ckpt.dataset_spec, seed=ckpt.train_seed).split("val").images)


def open_set_splits(dataset: Any, held_out: int, student: Path) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """The open-set benchmarks' image sets and their unknown masks: ``test``, the dataset's test split (the held-out
    class unknown); ``val``, the student's own validation split (known) with the held-out class's train + val
    images (unknown, never tested on), where a score is chosen."""
    unknown_pool = [image for split in (dataset.train, dataset.val)
                    for image, label in zip(split.images, split.labels) if label == held_out]
    known_val = validation_split(student)
    return {"test": (list(dataset.test.images), dataset.test.labels == held_out),
            "val": (known_val + unknown_pool, np.arange(len(known_val) + len(unknown_pool)) >= len(known_val))}


def predicted_names(model: Path, images: list[np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Predicted class names and every output of ``model`` (ONNX Runtime) on RGB ``images``."""
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.runtime.classifier import Classifier

    with OnnxRuntimeRunner(model, providers=["CPUExecutionProvider"], threads=1) as runner:
        classifier = Classifier(runner)
        parts = [runner.infer_outputs(classifier.preprocess(images[i : i + 256], "RGB"))
                 for i in range(0, len(images), 256)]
        outputs = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        names = np.array(runner.metadata.class_names)[outputs["logits"].argmax(1)]
    return names, outputs


def held_out_arguments(description: str, work_prefix: str, class_weights: bool = False) -> argparse.Namespace:
    """The command line both held-out-class benchmarks take; ``work`` defaults to a fresh temp folder."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--held-out", type=int, default=9, help="class index left out of training")
    parser.add_argument("--seed", type=int, default=0,
                        help="the split (digits: train/val/test; idx: train/val), the training and the enrolment "
                             "images; results of a seed other than 0 get the suffix _seed<S>")
    parser.add_argument("--image-size", type=int, default=32, help="the teacher's input size (train-teacher's default)")
    parser.add_argument("--quick", action="store_true", help="tiny models, few epochs: checks the script runs")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--teacher-epochs", type=int, default=None, help=f"default {FULL['teacher_epochs']}")
    parser.add_argument("--student-epochs", type=int, default=None,
                        help=f"default {FULL['student_epochs']} (the small CNN too)")
    parser.add_argument("--contrastive", type=float, default=0.0,
                        help="the student's `distill --contrastive` weight (0, the default student: off); a run "
                             "with it writes its results with the suffix _contrastive<W>")
    if class_weights:
        parser.add_argument("--class-weights", default="1,0.5,0.25",
                            help="`enroll --class-weight` values each enrolment is made at (comma-separated)")
    args = parser.parse_args()
    if class_weights:
        args.class_weights = [float(v) for v in args.class_weights.split(",")]
    args.epochs = {"teacher_epochs": args.teacher_epochs, "student_epochs": args.student_epochs}
    args.work = args.work or Path(tempfile.mkdtemp(prefix=work_prefix))
    args.student = {"contrastive": args.contrastive} if args.contrastive else {}
    # seed 0 keeps the plain name; other seeds' results sit beside it (held_out_summary.py averages them)
    args.suffix = result_suffix(args.seed, args.contrastive)
    return args


def result_suffix(seed: int, contrastive: float = 0.0) -> str:
    """What a run's result file names add: ``_contrastive<W>`` for a non-default student, ``_seed<S>`` for a seed
    other than 0 (seed 0 keeps the plain name the first results had)."""
    return (f"_contrastive{contrastive:g}" if contrastive else "") + (f"_seed{seed}" if seed else "")


def dataset_name(spec: str) -> str:
    """``digits`` for ``digits``, the folder's name for ``idx:PATH`` / ``imagefolder:PATH`` (result file names)."""
    _, _, path = spec.partition(":")
    return Path(path.rstrip("/")).name if path else spec
