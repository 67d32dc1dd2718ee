"""``cnn2gnn export``: a teacher or anchor-mode student checkpoint -> a checked, TensorRT-ready ONNX model.

Steps: rebuild the model, wrap an anchor-mode student in :class:`AnchorStudentForExport`, export
with a dynamic batch axis, fold constants, then run the ONNX checker, the static TensorRT check and
ONNX Runtime vs PyTorch parity on real test images. Only when all pass are the model and its
sidecar written (atomically); a failed export leaves no file behind.
"""

from __future__ import annotations

import inspect
import io
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnn2gnn import __version__
from cnn2gnn.contracts.atomic_io import sha256_bytes, sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata, sidecar_path

if TYPE_CHECKING:
    from cnn2gnn.toolchain.training.checkpoint import Checkpoint

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
BATCH_AXIS = "batch"
# 17 is the floor the deployment targets share; the TorchScript exporter and TensorRT 10.0 stop at 20.
OPSET_RANGE = (17, 20)


def module_for_export(checkpoint: "Checkpoint", neighbour_outputs: bool = False) -> tuple[Any, Any]:
    """(module to export, the checkpoint's own model in eval mode as the parity reference).

    A student whose family has a graph (the CNN2GNN student) exports with its anchor side frozen (and,
    with ``neighbour_outputs``, the extra outputs of cnn2gnn.contracts.anchor_bank); every other model,
    e.g. the small-CNN student, exports as a plain CNN.
    """
    from cnn2gnn.export.anchor_student import AnchorStudentForExport
    from cnn2gnn.toolchain.training.checkpoint import model_from_checkpoint

    model = model_from_checkpoint(checkpoint)
    if checkpoint.graph is not None:
        return AnchorStudentForExport(model, neighbour_outputs=neighbour_outputs).eval(), model
    return model, model


def onnx_model_from_module(module: Any, input_shape: tuple[int, ...], opset: int) -> Any:
    """Export ``module`` (images (N, C, H, W) -> logits) to an in-memory, constant-folded ``onnx.ModelProto``.

    The TorchScript exporter is used on purpose: it honours opset 17 and gives the plain graph TensorRT
    wants (Gather rather than GatherND, no allowzero Reshape), while the dynamo exporter (torch 2.13)
    emits opset 18, cannot always convert down (ReduceMean's axes input), and takes ten times longer.
    """
    import onnx
    import onnxscript.optimizer
    import torch

    output_names = [OUTPUT_NAME, *getattr(module, "output_names", [])]
    example = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # the TorchScript exporter's notice
        # Shape checks on the anchor bank (a constant M) are meant to be frozen into the trace.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # torch < 2.5 has only the TorchScript exporter and no ``dynamo`` argument
        choose_exporter = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        torch.onnx.export(
            module, (example,), buffer, opset_version=opset, input_names=[INPUT_NAME], output_names=output_names,
            dynamic_axes={name: {0: BATCH_AXIS} for name in [INPUT_NAME, *output_names]}, do_constant_folding=True,
            **choose_exporter,
        )
    model = onnx.load_from_string(buffer.getvalue())
    # Folds what the exporter left (Constant nodes become initializers, so TopK's K is one).
    model = onnxscript.optimizer.optimize(model)
    model.producer_name = "cnn2gnn"
    model.producer_version = __version__
    return model


def _metadata(checkpoint: "Checkpoint", checkpoint_sha256: str, extra: dict[str, Any]) -> ModelMetadata:
    graph = checkpoint.graph
    return ModelMetadata(
        kind=checkpoint.kind,
        class_names=[str(c) for c in checkpoint.class_names],
        preprocessing=checkpoint.preprocessing,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        precision="fp32",
        graph=graph.to_dict() if graph else None,
        source_checkpoint_sha256=checkpoint_sha256,
        run_config=checkpoint.run_config,
        extra=extra,
    )


def _refuse_bank_options_it_cannot_serve(module: Any, ckpt: "Checkpoint", unknown_tpr: float | None,
                                       bank_capacity: int | None, neighbour_outputs: bool) -> None:
    """Before the parity images are loaded: options that need an anchor bank (or its novelty output)."""
    if hasattr(module, "bank_record"):
        if unknown_tpr is not None and not neighbour_outputs:
            raise Cnn2GnnError("--unknown-tpr needs the novelty output: drop --no-neighbour-outputs")
        return
    if unknown_tpr is not None:
        raise Cnn2GnnError(f"{ckpt.kind} checkpoints have no anchors, so no novelty: --unknown-tpr needs an "
                           "anchor-mode CNN2GNN student")
    if bank_capacity is not None:
        raise Cnn2GnnError(f"{ckpt.kind} checkpoints have no anchor bank to reserve room in: --bank-capacity needs an "
                           "anchor-mode CNN2GNN student")


def _anchor_bank(module: Any, reference: Any, model: Any, ckpt: "Checkpoint", output: Path,
                 unknown_tpr: float | None, bank_capacity: int | None) -> tuple[dict[str, Any], list[tuple[Path, bytes]]]:
    """The ``anchor_bank`` metadata record and the thumbnail file of an anchor-mode student (none otherwise)."""
    from cnn2gnn.contracts.anchor_bank import bank_checksum
    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_bytes, thumbnails_from_inputs, thumbnails_path
    from cnn2gnn.export.anchor_bank_capacity import unpadded_bank
    from cnn2gnn.export.anchor_bank_onnx import bank_constants
    from cnn2gnn.export.novelty_threshold import novelty_threshold, validation_images

    if not hasattr(module, "bank_record"):
        return {}, []
    thumbnails = thumbnails_bytes(thumbnails_from_inputs(reference.anchor_images.numpy(), ckpt.preprocessing))
    record = module.bank_record()
    if bank_capacity is not None:
        record["capacity"] = bank_capacity
    record.update(sha256=bank_checksum(unpadded_bank(bank_constants(model, str(output)), record["size"])),
                  thumbnails_sha256=sha256_bytes(thumbnails))
    if unknown_tpr is not None:
        record["novelty_threshold"] = novelty_threshold(model.SerializeToString(), INPUT_NAME,
                                                        validation_images(ckpt), unknown_tpr)
    return {"anchor_bank": record}, [(thumbnails_path(output), thumbnails)]


def onnx_from_checkpoint(checkpoint: Path, output: Path, opset: int = 17, parity_samples: int = 256,
                         progress: bool = True, neighbour_outputs: bool = True,
                         unknown_tpr: float | None = None, bank_capacity: int | None = None) -> dict[str, Any]:
    """Export ``checkpoint`` to ``output`` (+ ``output``.json); returns the export report.

    An anchor-mode student also gets the extra outputs ``neighbour_index``, ``neighbour_weight`` and
    ``novelty`` after ``logits`` (unless ``neighbour_outputs`` is False), an ``anchor_bank`` metadata
    record, and its anchor thumbnails in ``output``.anchors.npy (all written together). ``unknown_tpr``
    picks the open-set novelty threshold that accepts that share of validation images. ``bank_capacity``
    pads the bank with empty slots to that many rows (``cnn2gnn.export.anchor_bank_capacity``), so enrolment
    can add anchors without changing the constants' shapes (what a TensorRT refit needs); the checks and
    parity below run on the padded model.

    Raises :class:`Cnn2GnnError` (and writes nothing) for a batch-mode student, an opset outside
    17..20, a graph TensorRT would reject, or broken ONNX Runtime vs PyTorch parity.
    """
    import onnx
    import torch

    from cnn2gnn.export.novelty_threshold import check_unknown_tpr
    from cnn2gnn.export.onnx_metadata import write_onnx_with_metadata
    from cnn2gnn.export.parity import format_parity, onnx_parity, parity_images, parity_passed
    from cnn2gnn.export.tensorrt_compat import require_tensorrt_compatible
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint

    started = time.perf_counter()
    checkpoint, output = Path(checkpoint), Path(output)
    if output.suffix.lower() != ".onnx":
        raise Cnn2GnnError(f"output {output} must end in .onnx (the runtime picks its backend by suffix)")
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise Cnn2GnnError(f"opset {opset} is outside the supported {OPSET_RANGE[0]}..{OPSET_RANGE[1]}; use 17")
    if unknown_tpr is not None:  # refused now, not after the export and its parity check
        check_unknown_tpr(unknown_tpr)
    ckpt = load_checkpoint(checkpoint)
    try:
        module, reference = module_for_export(ckpt, neighbour_outputs)
    except Cnn2GnnError as exc:  # checkpoint errors (model_from_checkpoint) name the file already
        named = str(exc).startswith(f"{checkpoint}:")
        raise Cnn2GnnError(str(exc) if named else f"{checkpoint}: {exc}") from exc
    _refuse_bank_options_it_cannot_serve(module, ckpt, unknown_tpr, bank_capacity, neighbour_outputs)
    images, parity_source = parity_images(ckpt, parity_samples)
    input_shape = ckpt.preprocessing.input_shape

    model = onnx_model_from_module(module, input_shape, opset)
    if bank_capacity is not None:
        from cnn2gnn.export.anchor_bank_capacity import with_bank_capacity

        model = with_bank_capacity(model, bank_capacity, module.k, str(output))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx's ValidationError / InferenceError: a bug in the export, shown plainly
        raise Cnn2GnnError(f"{checkpoint}: the exported ONNX fails onnx.checker ({exc}); nothing was written") from exc
    trt_report = require_tensorrt_compatible(model, source=str(output))
    parity = onnx_parity(model.SerializeToString(), reference, images, progress=progress)
    parity.update(parity_source)
    if not parity_passed(parity):
        tol = parity["tolerance"]
        raise Cnn2GnnError(
            f"{checkpoint}: ONNX Runtime disagrees with PyTorch (tolerance max |Δlogit| <= {tol['max_abs_diff']:g}, "
            f"top-1 agreement >= {100 * tol['min_top1_agreement']:.0f}%, same result alone and in a batch); "
            f"nothing was written to {output}:\n{format_parity(parity)}"
        )

    extra = {
        "opset": opset,
        "exporter": "torch.onnx (TorchScript) + onnxscript optimizer",
        "torch_version": str(torch.__version__),
        "export_parity": parity,
        "tensorrt_check": {"verdict": trt_report["verdict"], "warnings": trt_report["warnings"]},
        "dataset": ckpt.dataset,
    }
    bank, extra_files = _anchor_bank(module, reference, model, ckpt, output, unknown_tpr, bank_capacity)
    metadata = _metadata(ckpt, sha256_file(checkpoint), {**extra, **bank})
    sidecar = write_onnx_with_metadata(model, output, metadata, extra_files=extra_files)
    return {
        "checkpoint": str(checkpoint),
        "output": str(output),
        "sidecar": str(sidecar_path(output)),
        "kind": ckpt.kind,
        "graph": metadata.graph,
        "opset": opset,
        "ops": trt_report["ops"],
        "num_nodes": trt_report["num_nodes"],
        "inputs": trt_report["inputs"],
        "outputs": trt_report["outputs"],
        "topk": trt_report["topk"],
        "tensorrt_check": trt_report["verdict"],
        "parity": parity,
        "onnx_sha256": sidecar["extra"]["onnx_sha256"],
        "bank_capacity": bank_capacity,
        "metadata": sidecar,
        "seconds": round(time.perf_counter() - started, 3),
    }


def format_export_report(report: dict[str, Any]) -> str:
    from cnn2gnn.export.parity import format_parity

    graph = report["graph"]
    what = report["kind"]
    if graph:
        room = f" in a bank of {report['bank_capacity']} rows" if report.get("bank_capacity") else ""
        what += f" ({graph['mode']} graph, k={graph['k']}, {graph['num_anchors']} anchors{room})"
    parity = report["parity"]
    inputs = "; ".join(f"{v['name']} {v['shape']}" for v in report["inputs"])
    return "\n".join([
        f"exported {what}: {report['output']} (+ {Path(report['sidecar']).name}), opset {report['opset']}, "
        f"{report['num_nodes']} nodes, input {inputs}",
        "ops: " + ", ".join(f"{op} x{n}" for op, n in report["ops"].items()),
        f"TensorRT check: {report['tensorrt_check']}",
        f"parity vs PyTorch on {parity['num_images']} {parity['data']} [{parity['split']}] images (ONNX Runtime CPU):",
        format_parity(parity),
        f"sha256 {report['onnx_sha256']}  ({report['seconds']:.1f} s)",
    ])
