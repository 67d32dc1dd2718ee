"""Open-set rejection: train on 9 of 10 classes; how well does each score tell the held-out class apart?

Known classes are positives, the held-out class the unknowns. Test: the full dataset's test split.
Validation (what the novelty score was chosen on, issue 15): the student's own validation split against the
held-out class's train + val images (never tested on). Scores: the student's novelty (1 - the largest cosine
between its hidden features before the last layer and any anchor's, an output of the exported model) against
the usual baseline,
maximum softmax probability, of the student, the small CNN of the student's FLOPs and the CNN teacher.
Reports AUROC and the false-positive rate at 95% TPR (unknowns accepted when 95% of known images are).
Target: the novelty's AUROC >= the max-softmax baseline's. Writes benchmarks/results/open_set_<data>.json
(``--contrastive W``: the student trained with that term, ``open_set_<data>_contrastive<W>.json``; ``--seed S``
other than 0 adds ``_seed<S>``; ``--quick``:
tiny models, results under --work only).

    OMP_NUM_THREADS=1 python benchmarks/open_set.py [--data digits] [--held-out 9] [--seed 0] [--quick]
        [--contrastive W]
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_out_class import dataset_name, held_out_arguments, open_set_splits, predicted_names, train_without  # noqa: E402

from cnn2gnn.contracts.atomic_io import atomic_write_json  # noqa: E402
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint  # noqa: E402
from cnn2gnn.runtime.classifier import softmax  # noqa: E402


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """P(a known image scores as more known than an unknown one); scores: higher = more known. Ties count half."""
    scores = np.concatenate([known, unknown])
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[: len(known)].sum() - len(known) * (len(known) + 1) / 2) / (len(known) * len(unknown)))


def fpr_at_tpr(known: np.ndarray, unknown: np.ndarray, tpr: float = 0.95) -> float:
    """Share of unknowns accepted at the threshold that accepts ``tpr`` of the known images."""
    threshold = np.quantile(known, 1.0 - tpr, method="lower")
    return float((unknown >= threshold).mean())


def main() -> None:
    args = held_out_arguments(__doc__, "open_set_")
    work = args.work
    trained = train_without(args.data, args.held_out, work, args.seed, args.quick, args.image_size, small_cnn=True,
                            epochs=args.epochs, student_settings=args.student)
    dataset, names = trained["dataset"], trained["names"]
    sets = open_set_splits(dataset, args.held_out, trained["student"])
    rows: dict[str, dict[str, dict[str, float]]] = {name: {} for name in sets}
    for role in ("student", "small_cnn", "teacher"):
        model = work / f"{role}.onnx"
        onnx_from_checkpoint(trained[role], model, parity_samples=64, progress=False)
        for name, (images, is_unknown) in sets.items():
            _, outputs = predicted_names(model, images)
            scores = {f"{role}_max_softmax": softmax(outputs["logits"]).max(axis=1)}
            if role == "student":
                scores["student_novelty"] = -outputs["novelty"]  # higher = more known, like the softmax
            for score, s in scores.items():
                rows[name][score] = {"auroc": auroc(s[~is_unknown], s[is_unknown]),
                                     "fpr_at_95tpr": fpr_at_tpr(s[~is_unknown], s[is_unknown])}
    for name, scores in rows.items():
        for score, row in scores.items():
            print(f"{name:>4} {score:>22}: AUROC {row['auroc']:.4f}, FPR@95TPR {100 * row['fpr_at_95tpr']:.1f}%")
    test_unknown = sets["test"][1]
    result = {"data": args.data, "held_out": names[args.held_out], "seed": args.seed, "quick": args.quick,
              "known_images": int((~test_unknown).sum()), "unknown_images": int(test_unknown.sum()),
              "scores": rows["test"], "validation": {"known_images": int((~sets["val"][1]).sum()),
                                                     "unknown_images": int(sets["val"][1].sum()), "scores": rows["val"]},
              "small_cnn_widths": trained["small_cnn_widths"], "recipe": trained["recipe"], "machine": platform.platform()}
    out = (work if args.quick else Path(__file__).parent / "results") / f"open_set_{dataset_name(args.data)}{args.suffix}.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
