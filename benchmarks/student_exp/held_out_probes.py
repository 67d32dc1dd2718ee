"""Issue 15 probes on trained held-out-class students: can enrolment or the open-set score do better without
retraining? Read-only on the work folders that ``benchmarks/enrolment.py --work W`` and ``benchmarks/open_set.py
--work W`` leave (their student, its exported ONNX and the enrolment folders); one JSON line per result to --out.

``enrolment``: for the 10- and 20-image enrolments, (a) the default fit (the new class's column scored on every
anchor, left out of its own neighbours), (b) the other classes' side scored on the student's own validation images
instead (held-out images, which the trained classes are less sure of than of their training anchors), (c) three
jittered copies (rotation, scale, shift) of each enrolled image enrolled with it. Each on the validation protocol of
benchmarks/held_out_class.py (the student's validation split; the held-out class's train + val images that were not
enrolled) and on the test split. Then, on the default enrolment, scores of "new class" against the old classes:
the exported logit margin, hidden-space prototype / 1-NN / 3-NN margins and a cosine kernel vote, as AUROC and the
new class's recall where 1% of old images are flagged.

``class-weights``: the models enrolment.py enrolled at each image count and class weight, on the validation
protocol (where `enroll --class-weight`'s default can be chosen) and on test.

``open-set``: scores of the student for known vs the held-out class (AUROC, validation and test): its novelty, its
max-softmax, energy, max logit, the largest cosine among anchors of the predicted class, a Mahalanobis distance to
class means, the hidden norm, the cosine to the k-th nearest anchor, and sums of novelty and softmax scores
standardised on known validation images.

    OMP_NUM_THREADS=1 python benchmarks/student_exp/held_out_probes.py enrolment --work W --data SPEC --out F
    OMP_NUM_THREADS=1 python benchmarks/student_exp/held_out_probes.py class-weights --work W --data SPEC --out F
    OMP_NUM_THREADS=1 python benchmarks/student_exp/held_out_probes.py open-set --work W --data SPEC --out F
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from held_out_class import open_set_splits, predicted_names, write_folder  # noqa: E402
from open_set import auroc  # noqa: E402

import cnn2gnn.export.enrol_anchors as enrol_module  # noqa: E402
from cnn2gnn.contracts.images import read_image  # noqa: E402
from cnn2gnn.contracts.preprocessing import preprocess_images  # noqa: E402
from cnn2gnn.export.anchor_embedding import embed_images, gemm_input_reading, internal_outputs  # noqa: E402
from cnn2gnn.export.anchor_rows import closed_form_neighbours  # noqa: E402
from cnn2gnn.export.enrolled_class_fit import (  # noqa: E402
    BankGraph,
    ScoredSamples,
    anchor_logits,
    hidden_before_last_layer,
)
from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model  # noqa: E402
from cnn2gnn.toolchain.data import load_dataset  # noqa: E402
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint  # noqa: E402

HELD_OUT = 9
JITTER_COPIES = 3
FLAGGED_OLD = 0.01  # share of old-class images a "new class" score may flag


def full_dataset(work: Path, data: str) -> Any:
    """The benchmark's whole dataset, split by the run's seed (the held-out student's), as the benchmark split it."""
    return load_dataset(data, seed=load_checkpoint(work / "student" / "best.pt").train_seed)


def query_graph(h: np.ndarray, z: np.ndarray, bank_z: np.ndarray, values: np.ndarray, layer_weights: list[np.ndarray],
                k: int, eps: float) -> BankGraph:
    """Graph rows of images that are not anchors: their k nearest anchors and hidden features before the last layer."""
    z, bank_z = z.astype(np.float64), bank_z.astype(np.float64)
    dist = (z * z).sum(axis=1)[:, None] + (bank_z * bank_z).sum(axis=1)[None, :] - 2.0 * z @ bank_z.T
    w, idx = closed_form_neighbours(dist, k, eps)
    return BankGraph(w, idx, hidden_before_last_layer(h, w, idx, values, layer_weights))


@contextlib.contextmanager
def validation_scored_fit(h: np.ndarray, z: np.ndarray, labels: np.ndarray) -> Iterator[None]:
    """Within: enrolment's own fit scores the other classes' side of the new column on images of the trained classes
    (their node features ``h`` and projections ``z``, embedded once: the stem does not change with the bank), the new
    class's side on its own anchors, as before."""
    from unittest import mock

    fit_enrolled_class, fit_column = enrol_module._Bank.fit_enrolled_class, enrol_module.fit_class_column
    banks = []

    def remembering_the_bank(self: Any, *args: Any, **kwargs: Any) -> Any:
        banks.append(self)
        return fit_enrolled_class(self, *args, **kwargs)

    def scored_on_the_images(graph: BankGraph, logits: np.ndarray, bank_labels: np.ndarray, c: int, *args: Any,
                             **kwargs: Any) -> Any:
        bank = banks[-1]
        constants, eps = bank.constants, float(bank.record["eps"])
        rows = query_graph(h, z, -0.5 * constants["anchor_dist_weight"].T, constants["anchor_values"],
                           bank.layer_weights, bank.k, eps)
        row_logits = anchor_logits(rows, constants["anchor_values"], bank.layer_weights[-1],
                                   constants["anchor_targets"], bank.label_scale)
        own = np.where(bank_labels == c)[0]
        samples = ScoredSamples(
            BankGraph(np.concatenate([graph.weights[own], rows.weights]), np.concatenate([graph.index[own], rows.index]),
                      np.concatenate([graph.hidden[own], rows.hidden])),
            np.concatenate([logits[own], row_logits]), np.concatenate([bank_labels[own], labels]))
        return fit_column(graph, logits, bank_labels, c, *args, samples=samples, **kwargs)

    with (mock.patch.object(enrol_module._Bank, "fit_enrolled_class", remembering_the_bank),
          mock.patch.object(enrol_module, "fit_class_column", scored_on_the_images)):
        yield


def jittered(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small random rotation (+-12 degrees), scale (0.9-1.1) and shift (+-8%) of ``image``, black outside."""
    import cv2

    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-12, 12), rng.uniform(0.9, 1.1))
    matrix[:, 2] += rng.uniform(-0.08, 0.08, 2) * np.array([w, h])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def accuracy_row(model: Path, images: list[np.ndarray], labels: np.ndarray, new: str) -> dict[str, float]:
    """The new class's and the old classes' accuracy, and the old classes' with the new logit ignored (what the new
    anchors alone did to them: their neighbours and votes)."""
    names, outputs = predicted_names(model, images)
    truth = np.array([str(v) for v in labels])
    is_new = truth == new
    trained = [n for n in names_of(model) if n != new]
    without_new = np.array(trained)[outputs["logits"][:, : len(trained)].argmax(axis=1)]
    return {"new_class": round(100 * float((names[is_new] == new).mean()), 2),
            "old_classes": round(100 * float((names[~is_new] == truth[~is_new]).mean()), 2),
            "old_classes_new_logit_ignored": round(100 * float((without_new[~is_new] == truth[~is_new]).mean()), 2)}


def names_of(model: Path) -> list[str]:
    """The class names of an exported model (an enrolled class is the last)."""
    return [str(n) for n in json.loads(Path(f"{model}.json").read_text())["class_names"]]


def new_class_scores(model: Path, images: list[np.ndarray], is_new: np.ndarray) -> dict[str, dict[str, float]]:
    """Scores of "new class" for an enrolled model (the new class is its last): AUROC against the old classes' images
    and the new class's recall at the threshold flagging FLAGGED_OLD of them."""
    from onnx import numpy_helper

    onnx_model = load_onnx_model(model)
    metadata = metadata_from_onnx_model(onnx_model, str(model))
    bank_hidden = numpy_helper.to_array(next(i for i in onnx_model.graph.initializer if i.name == "anchor_hidden"))
    labels = np.asarray(json.loads(Path(f"{model}.json").read_text())["extra"]["anchor_bank"]["anchor_labels"])
    x = preprocess_images(images, metadata.preprocessing, input_order="RGB")
    logits, hidden = internal_outputs(onnx_model, x, metadata.input_name,
                                      ["logits", gemm_input_reading(onnx_model, "anchor_hidden", str(model))])
    hidden = hidden / np.linalg.norm(hidden, axis=1, keepdims=True)
    cos = hidden @ bank_hidden
    new = labels.max()
    prototypes = np.stack([bank_hidden[:, labels == c].mean(axis=1) for c in range(new + 1)], axis=1)
    proto = hidden @ (prototypes / np.linalg.norm(prototypes, axis=0))
    near_new, near_old = np.sort(cos[:, labels == new], axis=1), np.sort(cos[:, labels != new], axis=1)
    scores = {"logit_margin": logits[:, new] - logits[:, :new].max(axis=1),
              "prototype_margin": proto[:, new] - proto[:, :new].max(axis=1),
              "1nn_margin": near_new[:, -1] - near_old[:, -1],
              "3nn_margin": near_new[:, -3:].mean(axis=1) - near_old[:, -3:].mean(axis=1)}
    for tau in (10, 30):
        kernel = np.exp(tau * (cos - cos.max(axis=1, keepdims=True)))
        vote = np.log(np.stack([kernel[:, labels == c].sum(axis=1) for c in range(new + 1)], axis=1) + 1e-30)
        scores[f"cosine_kernel{tau}_margin"] = vote[:, new] - vote[:, :new].max(axis=1)
    out = {}
    for name, s in scores.items():
        threshold = np.quantile(s[~is_new], 1.0 - FLAGGED_OLD)
        out[name] = {"auroc": round(auroc(s[is_new], s[~is_new]), 4),
                     "new_recall_at_1pct_old_flagged": round(100 * float((s[is_new] > threshold).mean()), 1)}
    return out


def enrolment(work: Path, data: str, emit: Any) -> None:
    dataset = full_dataset(work, data)
    new = str(dataset.class_names[HELD_OUT])
    student = work / "student" / "best.pt"
    checkpoint = load_checkpoint(student)
    val = load_dataset(checkpoint.dataset_spec, seed=checkpoint.train_seed).split("val")
    model = work / "student.onnx"
    onnx_model = load_onnx_model(model)
    metadata = metadata_from_onnx_model(onnx_model, str(model))
    val_h, val_z = embed_images(onnx_model, preprocess_images(list(val.images), metadata.preprocessing, input_order="RGB"),
                                metadata.input_name, str(model))
    val_y = np.asarray(val.labels)
    rng = np.random.default_rng(0)
    scratch = Path(tempfile.mkdtemp(prefix="held_out_probes_"))
    try:
        for shots in (10, 20):
            folder = work / f"enrol_{shots}" / new
            enrolled = [read_image(p) for p in sorted(folder.iterdir())]
            pool = [image for split in (dataset.train, dataset.val) for image, label in zip(split.images, split.labels)
                    if label == HELD_OUT and not any(image.shape == e.shape and np.array_equal(image, e) for e in enrolled)]
            sets = {"val": (list(val.images) + pool, np.concatenate([val_y, np.full(len(pool), HELD_OUT)])),
                    "test": (list(dataset.test.images), np.asarray(dataset.test.labels))}
            emit({"probe": "enrolment", "variant": "before_enrolment", "images": shots,
                  **{split: accuracy_row(model, *sets[split], new) for split in sets}})
            jittered_set = enrolled + [jittered(e, rng) for e in enrolled for _ in range(JITTER_COPIES)]
            copies = write_folder(jittered_set, np.zeros(len(jittered_set), int), [new], scratch / f"jitter_{shots}") / new
            variants = {"default": (folder, contextlib.nullcontext()),
                        "validation_scored": (folder, validation_scored_fit(val_h, val_z, val_y)),
                        f"jitter_x{JITTER_COPIES}": (copies, contextlib.nullcontext())}
            for name, (images, context) in variants.items():
                out = scratch / f"{name}_{shots}.onnx"
                with context:
                    enrol_module.enrol_anchors(model, out, images=images, label=new)
                emit({"probe": "enrolment", "variant": name, "images": shots,
                      **{split: accuracy_row(out, *sets[split], new) for split in sets}})
                if name == "default":
                    emit({"probe": "new_class_scores", "images": shots,
                          **{split: new_class_scores(out, sets[split][0], sets[split][1] == HELD_OUT) for split in sets}})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def class_weights(work: Path, data: str, emit: Any) -> None:
    """The enrolled models that benchmarks/enrolment.py left (every image count and class weight) on the validation
    protocol, where a default class weight can be chosen, and on test."""
    dataset = full_dataset(work, data)
    new = str(dataset.class_names[HELD_OUT])
    checkpoint = load_checkpoint(work / "student" / "best.pt")
    val = load_dataset(checkpoint.dataset_spec, seed=checkpoint.train_seed).split("val")
    for shots in (5, 10, 20):
        enrolled = [read_image(p) for p in sorted((work / f"enrol_{shots}" / new).iterdir())]
        pool = [image for split in (dataset.train, dataset.val) for image, label in zip(split.images, split.labels)
                if label == HELD_OUT and not any(image.shape == e.shape and np.array_equal(image, e) for e in enrolled)]
        sets = {"val": (list(val.images) + pool, np.concatenate([np.asarray(val.labels), np.full(len(pool), HELD_OUT)])),
                "test": (list(dataset.test.images), np.asarray(dataset.test.labels))}
        if shots == 5:
            emit({"probe": "class_weight", "class_weight": None, "images": 0,
                  **{split: accuracy_row(work / "student.onnx", *sets[split], new) for split in sets}})
        for model in sorted(work.glob(f"enrolled_{shots}_w*.onnx")):
            weight = float(model.stem.rsplit("_w", 1)[1])
            emit({"probe": "class_weight", "class_weight": weight, "images": shots,
                  **{split: accuracy_row(model, *sets[split], new) for split in sets}})


def open_set(work: Path, data: str, emit: Any) -> None:
    from onnx import numpy_helper

    from cnn2gnn.runtime.classifier import softmax

    dataset = full_dataset(work, data)
    sets = open_set_splits(dataset, HELD_OUT, work / "student" / "best.pt")
    model = work / "student.onnx"
    onnx_model = load_onnx_model(model)
    metadata = metadata_from_onnx_model(onnx_model, str(model))
    bank_hidden = numpy_helper.to_array(next(i for i in onnx_model.graph.initializer if i.name == "anchor_hidden"))
    labels = np.asarray(json.loads(Path(f"{model}.json").read_text())["extra"]["anchor_bank"]["anchor_labels"])
    normalised = gemm_input_reading(onnx_model, "anchor_hidden", str(model))
    raw = next(n.input[0] for n in onnx_model.graph.node if normalised in n.output)  # before the L2 normalisation
    classes = labels.max() + 1
    means = np.stack([bank_hidden[:, labels == c].mean(axis=1) for c in range(classes)])
    centred = bank_hidden.T - means[labels]
    precision = np.linalg.inv(centred.T @ centred / len(centred) + 1e-4 * np.eye(len(means[0])))

    def scores(images: list[np.ndarray]) -> dict[str, np.ndarray]:  # higher = more known
        x = preprocess_images(images, metadata.preprocessing, input_order="RGB")
        logits, hidden, hidden_raw, novelty = internal_outputs(onnx_model, x, metadata.input_name,
                                                               ["logits", normalised, raw, "novelty"])
        hidden = hidden / np.linalg.norm(hidden, axis=1, keepdims=True)
        cos = hidden @ bank_hidden
        top = logits.max(axis=1)
        predicted = logits.argmax(axis=1)
        diff = hidden[:, None, :] - means[None]
        ranked = np.sort(cos, axis=1)
        return {"novelty": -novelty, "max_softmax": softmax(logits).max(axis=1),
                "energy": top + np.log(np.exp(logits - top[:, None]).sum(axis=1)), "max_logit": top,
                "predicted_class_max_cosine": np.where(labels[None, :] == predicted[:, None], cos, -np.inf).max(axis=1),
                "mahalanobis": -np.einsum("nch,hk,nck->nc", diff, precision, diff).min(axis=1),
                "hidden_norm": np.linalg.norm(hidden_raw.reshape(len(x), -1), axis=1),
                **{f"cosine_to_{k}th_anchor": ranked[:, -k] for k in (5, 20, 50)}}

    computed = {split: scores(images) for split, (images, _) in sets.items()}
    known = ~sets["val"][1]
    stats = {name: (s[known].mean(), s[known].std()) for name, s in computed["val"].items()}
    for split, (_, unknown) in sets.items():
        s = computed[split]
        z = {name: (v - stats[name][0]) / stats[name][1] for name, v in s.items()}
        for other in ("max_softmax", "energy", "max_logit"):
            s[f"standardised_novelty+{other}"] = z["novelty"] + z[other]
        emit({"probe": "open_set", "split": split,
              "auroc": {name: round(auroc(v[~unknown], v[unknown]), 4) for name, v in s.items()}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["enrolment", "class-weights", "open-set"])
    parser.add_argument("--work", type=Path, required=True, help="the --work folder of benchmarks/enrolment.py "
                                                                 "(enrolment, class-weights) or benchmarks/open_set.py "
                                                                 "(open-set)")
    parser.add_argument("--data", required=True, help="the --data the benchmark was run with")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines are appended here")
    args = parser.parse_args()

    def emit(row: dict[str, Any]) -> None:
        row = {"work": args.work.name, "data": args.data, **row}
        print(json.dumps(row), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")

    probes = {"enrolment": enrolment, "class-weights": class_weights, "open-set": open_set}
    probes[args.probe](args.work, args.data, emit)


if __name__ == "__main__":
    main()
