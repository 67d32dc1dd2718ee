"""ONNX export of the kNN baseline, which has no checkpoint of its own, through the export package's steps.

Every trained model (teacher, students, the small-CNN baseline) goes through ``cnn2gnn export``'s
``onnx_from_checkpoint`` (:func:`comparison.measure.export_checkpoint`). The kNN baseline is built
from the anchor student's bank at report time, so this exports a module instead: TorchScript export
+ constant folding, the ONNX checker, ONNX Runtime vs float64 PyTorch parity at batch 1 and 64 (the
export's tolerance), and cnn2gnn metadata (preprocessing, classes, run config of the checkpoint it
was built from) written beside and inside the model, so calibration and the runtime read it like any
exported model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from cnn2gnn.contracts.errors import Cnn2GnnError


def onnx_from_module(module: nn.Module, output: Path, checkpoint: Path, graph: dict[str, Any] | None,
                     parity_samples: int, progress: bool = True) -> dict[str, Any]:
    """Export ``module`` (images -> logits) to ``output`` with the metadata of ``checkpoint``: the one the
    module was built from (its data, preprocessing, classes, run config)."""
    import onnx

    from cnn2gnn.contracts.atomic_io import sha256_file
    from cnn2gnn.contracts.metadata import ModelMetadata
    from cnn2gnn.export.onnx_from_checkpoint import INPUT_NAME, OUTPUT_NAME, onnx_model_from_module
    from cnn2gnn.export.onnx_metadata import write_onnx_with_metadata
    from cnn2gnn.export.parity import format_parity, onnx_parity, parity_images, parity_passed
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    source_payload = load_checkpoint(checkpoint)
    pre = source_payload.preprocessing
    model = onnx_model_from_module(module.eval(), pre.input_shape, 17)
    onnx.checker.check_model(model, full_check=True)
    images, parity_source = parity_images(source_payload, parity_samples)
    parity = onnx_parity(model.SerializeToString(), module, images, progress=progress)
    parity.update(parity_source)
    if not parity_passed(parity):
        raise Cnn2GnnError(f"{output}: ONNX Runtime disagrees with PyTorch; nothing written:\n{format_parity(parity)}")
    metadata = ModelMetadata(
        kind="student", class_names=[str(c) for c in source_payload.class_names], preprocessing=pre,
        input_name=INPUT_NAME, output_name=OUTPUT_NAME, precision="fp32", graph=graph,
        source_checkpoint_sha256=sha256_file(checkpoint), run_config=source_payload.run_config,
        extra={"opset": 17, "export_parity": parity, "dataset": source_payload.dataset},
    )
    write_onnx_with_metadata(model, output, metadata)
    return {"output": str(output), "parity": parity, "onnx_bytes": output.stat().st_size,
            "onnx_sha256": sha256_file(output)}
