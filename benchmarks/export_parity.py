"""Export parity on a full test split: ONNX Runtime (CPU) vs the checkpoint's PyTorch model.

Exports the teacher and the student with ``cnn2gnn export`` (which checks parity on its first 256 test
images), then re-reads each written .onnx file and compares it with PyTorch on EVERY image of the
checkpoint's test split, at batch sizes 1 and 64: max |Δlogit| and top-1 agreement against the
float64 reference (the pass criterion of the export) and against the float32 model, plus how much an
image's logits change between batch 1 and batch 64.

    python benchmarks/export_parity.py --teacher runs/teacher/best.pt --student runs/student/best.pt \
        --out runs/export_parity.json

Prints a Markdown table and the numbers as JSON (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.contracts.errors import Cnn2GnnError


def measure(checkpoint: Path, onnx_path: Path) -> dict[str, Any]:
    from cnn2gnn.export.onnx_from_checkpoint import module_for_export, onnx_from_checkpoint
    from cnn2gnn.export.parity import PARITY_BATCH_SIZES, onnx_parity, parity_images, parity_passed
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    export = onnx_from_checkpoint(checkpoint, onnx_path)
    payload = load_checkpoint(checkpoint)
    _, reference = module_for_export(payload)
    images, source = parity_images(payload, None)
    parity = onnx_parity(onnx_path.read_bytes(), reference, images, PARITY_BATCH_SIZES)
    parity.update(source)
    return {"checkpoint": str(checkpoint), "onnx": str(onnx_path), "kind": export["kind"], "graph": export["graph"],
            "opset": export["opset"], "ops": export["ops"], "onnx_sha256": export["onnx_sha256"],
            "export_seconds": export["seconds"], "full_split_parity": parity, "passed": parity_passed(parity)}


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| model | images | batch | max \\|Δlogit\\| vs fp64 | top-1 vs fp64 | max \\|Δlogit\\| vs fp32 | "
            "top-1 vs fp32 | alone vs batch | pass |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for role, r in results.items():
        p = r["full_split_parity"]
        for b, v in p["batch_sizes"].items():
            v32 = p["vs_pytorch_float32"][b]
            rows.append(f"| {role} | {v['num_images']} | {b} | {v['max_abs_diff']:.2e} "
                        f"| {100 * v['top1_agreement']:.2f}% | {v32['max_abs_diff']:.2e} "
                        f"| {100 * v32['top1_agreement']:.2f}% | {p['batch_dependence_max_abs']:.2e} "
                        f"| {'yes' if r['passed'] else 'NO'} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, required=True, help="teacher checkpoint")
    parser.add_argument("--student", type=Path, required=True, help="anchor-mode student checkpoint")
    parser.add_argument("--out", type=Path, help="write the results JSON here")
    parser.add_argument("--onnx-dir", type=Path, help="keep the exported models here (default: a temporary directory)")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_dir = args.onnx_dir or Path(tmp)
            results = {role: measure(ckpt, onnx_dir / f"{role}.onnx")
                       for role, ckpt in (("teacher", args.teacher), ("student", args.student))}
    except Cnn2GnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    import onnxruntime
    import torch

    report = {"results": results, "machine": {"platform": platform.platform(), "python": platform.python_version(),
                                              "torch": str(torch.__version__), "onnxruntime": onnxruntime.__version__}}
    print(markdown_table(results))
    print(json.dumps(report, indent=2, sort_keys=True))
    if args.out:
        atomic_write_json(args.out, report)
    return 0 if all(r["passed"] for r in results.values()) else 2


if __name__ == "__main__":
    sys.exit(main())
