"""Where should the student's novelty score be measured? Candidate scores on an open-set run's models.

Reads the work folder of ``benchmarks/open_set.py`` (its 9-class student.onnx, the held-out class and its
validation images) and scores known against unknown images with: the model's exported novelty (whatever its
export computed: the committed results are of models exported when it was 1 - the largest cosine to the k
neighbours in the projection z), the student's max-softmax, its max logit and energy, and the largest
(1st / 5th / k-th) cosine to the bank's anchors in three spaces: the projection z, the stem's features h, and the
hidden features before the last layer (the anchors' computed as the model computes them, itself left out). AUROC
on the validation sets open_set.py uses (a score is chosen there), and on test. Nothing is retrained; the
anchors' images come from the model's thumbnails. Writes benchmarks/results/novelty_spaces_<data>.json.

    OMP_NUM_THREADS=1 python benchmarks/open_set.py --work W [--data D ...]
    OMP_NUM_THREADS=1 python benchmarks/novelty_spaces.py --work W [--data D]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_out_class import dataset_name, open_set_splits  # noqa: E402
from open_set import auroc  # noqa: E402

from cnn2gnn.contracts.anchor_bank import bank_record  # noqa: E402
from cnn2gnn.contracts.anchor_thumbnails import inputs_from_thumbnails, read_thumbnails  # noqa: E402
from cnn2gnn.contracts.atomic_io import atomic_write_json  # noqa: E402
from cnn2gnn.contracts.preprocessing import preprocess_images  # noqa: E402
from cnn2gnn.export.anchor_embedding import gemm_input_reading, internal_outputs  # noqa: E402
from cnn2gnn.export.enrolled_class_fit import bank_graph  # noqa: E402
from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model  # noqa: E402
from cnn2gnn.runtime.classifier import softmax  # noqa: E402
from cnn2gnn.toolchain.data import load_dataset  # noqa: E402


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


class _Model:
    """The student ONNX with its node features h, projection z and last hidden features as extra outputs."""

    def __init__(self, path: Path) -> None:
        from onnx import numpy_helper

        self.model = load_onnx_model(path)
        self.metadata = metadata_from_onnx_model(self.model, str(path))
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.model.graph.initializer}
        self.record = bank_record(self.metadata, f"{path} (run benchmarks/open_set.py --work on its folder first)")
        layers = len(self.record["layer_bias"])
        self.spaces = {"h": gemm_input_reading(self.model, "layer_weight_0", str(path)),
                       "z": gemm_input_reading(self.model, "anchor_dist_weight", str(path)),
                       "hidden": gemm_input_reading(self.model, f"layer_weight_{layers - 1}", str(path))}

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        names = ["logits", "novelty", *self.spaces.values()]
        out = dict(zip(names, internal_outputs(self.model, x, self.metadata.input_name, names)))
        return {"logits": out["logits"], "novelty": out["novelty"],
                **{space: out[name].reshape(len(x), -1).astype(np.float64) for space, name in self.spaces.items()}}


def scores(out: dict[str, np.ndarray], anchors: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Every candidate score of a batch's outputs; higher = more known."""
    logits = out["logits"].astype(np.float64)
    top = logits.max(axis=1)
    result = {"exported_novelty": -out["novelty"], "max_softmax": softmax(out["logits"]).max(axis=1),
              "max_logit": top, "energy": top + np.log(np.exp(logits - top[:, None]).sum(axis=1))}
    for space, bank in anchors.items():
        cosine = -np.sort(-(_unit(out[space]) @ _unit(bank).T), axis=1)
        for rank in sorted({1, 5, k}):
            result[f"{space}_cosine_{rank}"] = cosine[:, rank - 1]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="the --work folder of benchmarks/open_set.py")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--held-out", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = _Model(args.work / "student.onnx")
    record, spec = model.record, model.metadata.preprocessing
    thumbnails = read_thumbnails(args.work / "student.onnx", record["thumbnails_sha256"])
    bank = model.run(inputs_from_thumbnails(thumbnails, spec))
    k = int((model.metadata.graph or {})["k"])
    layers = [model.inits[f"layer_weight_{i}"] for i in range(len(record["layer_bias"]))]
    z = -0.5 * model.inits["anchor_dist_weight"].T.astype(np.float64)
    graph = bank_graph(bank["h"], z, model.inits["anchor_values"], layers, k, float(record["eps"]))
    anchors = {"z": z, "h": bank["h"], "hidden": graph.hidden}
    dataset = load_dataset(args.data, seed=args.seed)
    sets = open_set_splits(dataset, args.held_out, args.work / "student" / "best.pt")
    result: dict[str, Any] = {"data": args.data, "held_out": args.held_out, "seed": args.seed, "k": k, "auroc": {}}
    for name, (images, unknown) in sets.items():
        out = model.run(preprocess_images(images, spec, input_order="RGB"))
        result["auroc"][name] = {score: round(auroc(s[~unknown], s[unknown]), 4)
                                 for score, s in scores(out, anchors, k).items()}
    for score in result["auroc"]["val"]:
        print(f"{score:>20}: AUROC val {result['auroc']['val'][score]:.4f}, test {result['auroc']['test'][score]:.4f}")
    out_path = Path(__file__).parent / "results" / f"novelty_spaces_{dataset_name(args.data)}.json"
    atomic_write_json(out_path, result)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
