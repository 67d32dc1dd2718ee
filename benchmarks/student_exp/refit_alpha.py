"""Refit a finished run's alpha on validation, as ``distill`` now does, and print test accuracy before and after.

    OMP_NUM_THREADS=1 python benchmarks/student_exp/refit_alpha.py RUN_DIR [RUN_DIR ...] [--checkpoint last.pt]

For runs trained before the fit existed (``results_2026-12-05b.jsonl``): which checkpoint (best.pt, picked by
validation loss, or last.pt, the schedule's end) and whether alpha is refitted, without retraining. Also prints
the accuracy of the student's parts on test: the own path alone and the k-neighbour label vote alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from cnn2gnn.toolchain.data.tensors import tensors_from_split
from cnn2gnn.toolchain.distill.graph_mixing import fit_graph_mixing
from cnn2gnn.toolchain.graph.dsgl import aggregate
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
from cnn2gnn.toolchain.training.evaluate_checkpoint import checkpoint_on_split


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return round(float((logits.argmax(1) == y).float().mean()) * 100, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--checkpoint", default="best.pt", help="best.pt or last.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        checkpoint = load_checkpoint(run / args.checkpoint)
        val_split = checkpoint_on_split(checkpoint, None, "val", "cpu")
        test_split = checkpoint_on_split(checkpoint, None, "test", "cpu")
        model = val_split.model
        val = tensors_from_split(val_split.images, checkpoint.preprocessing)
        test = tensors_from_split(test_split.images, checkpoint.preprocessing)
        with torch.no_grad():
            before = _accuracy(model(test.x), test.y)
            h = model.features(test.x)
            w, idx = model.neighbours_of_features(h)
            vote = aggregate(w, idx, torch.nn.functional.one_hot(model.anchor_labels, model.cfg.num_classes).float())
            parts = {"own_path": _accuracy(model._own_path(h), test.y),
                     "neighbour_vote": _accuracy(vote, test.y)}
        fit = fit_graph_mixing(model, val, checkpoint.train_seed)
        with torch.no_grad():
            after = _accuracy(model(test.x), test.y)
        print(json.dumps({"run": str(run), "checkpoint": args.checkpoint, "test_acc": before,
                          "test_acc_alpha_refitted": after, **fit.to_dict(), "test_parts": parts}))


if __name__ == "__main__":
    main()
