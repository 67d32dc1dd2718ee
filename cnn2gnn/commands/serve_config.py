"""The ``serve-config`` command: Triton and DeepStream configs for an exported ONNX model or a built engine.

Torch-free: the model's facts come from its cnn2gnn metadata (embedded or sidecar) and engine sidecar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import emit
from cnn2gnn.contracts.errors import Cnn2GnnError


def serve_config_summary(result: dict[str, Any]) -> str:
    lines = []
    triton = result.get("triton")
    if triton:
        batching = (f"max_batch_size {triton['max_batch_size']}, dynamic batching" if triton["max_batch_size"]
                    else "max_batch_size 0, no batching")
        lines.append(f"Triton: {triton['folder']} ({triton['platform']}, {batching}): config.pbtxt, labels.txt, "
                     "README.md (the client's preprocessing), 1/" + triton["model_file"])
    deepstream = result.get("deepstream")
    if deepstream:
        lines.append(f"DeepStream: {deepstream['config']} (labels {deepstream['labels']}): net-scale-factor="
                     f"{deepstream['net_scale_factor']!r}, offsets={';'.join(repr(o) for o in deepstream['offsets'])}")
        verdict = "exact" if deepstream["exact"] else "NOT exact (closest form written)"
        lines.append(f"  normalisation {verdict}: max |difference| {deepstream['max_abs_error']:.6g} in the normalised "
                     "tensor over every pixel value 0..255")
    return "\n".join(lines)


def serve_config_cmd(
    model: Path = typer.Argument(
        ..., help="An exported .onnx (`cnn2gnn export` / `calibrate`) or an engine (.engine / .plan, with its .json "
                  "sidecar, from `cnn2gnn build`)."
    ),
    triton: Optional[Path] = typer.Option(
        None, "--triton", help="Triton model repository: writes DIR/<name>/config.pbtxt, labels.txt, README.md and "
                               "1/model.onnx or 1/model.plan."
    ),
    deepstream: Optional[Path] = typer.Option(
        None, "--deepstream", help="DeepStream nvinfer config file to write (and <file stem>.labels.txt beside it)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Triton model name (default: the model file's stem)."),
    max_batch: Optional[int] = typer.Option(
        None, "--max-batch", help="Largest batch the server forms: Triton max_batch_size, nvinfer batch-size "
                                  "(default: an engine's profile maximum, 64 for ONNX)."
    ),
    max_queue_delay_us: int = typer.Option(
        100, "--max-queue-delay-us", help="Triton dynamic batcher: how long a request may wait for others to join."
    ),
    classifier_threshold: Optional[float] = typer.Option(
        None, "--classifier-threshold",
        help="nvinfer attaches the top class only above this logit (the model outputs logits; default: always)."
    ),
    gie_unique_id: int = typer.Option(1, "--gie-unique-id", help="nvinfer gie-unique-id of this classifier."),
    process_mode: str = typer.Option(
        "primary", "--process-mode", help="nvinfer process-mode: primary (whole frames) | secondary (object crops)."
    ),
    gpu_id: int = typer.Option(0, "--gpu-id", help="nvinfer gpu-id."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Let --deepstream (or its labels file) replace another model, engine, checkpoint "
                                   "or sidecar (never MODEL's own files)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Serving configs: a Triton model repository entry and/or a DeepStream nvinfer classifier config.

    Where nvinfer cannot reproduce the model's preprocessing exactly (per-channel std, its own resize) the
    config says so in comments, the closest form is written, and the measured difference is printed.
    """
    if triton is None and deepstream is None:
        raise Cnn2GnnError("say what to write: --triton DIR and/or --deepstream FILE")
    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
    from cnn2gnn.contracts.metadata import sidecar_path
    from cnn2gnn.contracts.output_paths import check_writable_output, refuse_clobbering_inputs, refuse_replacing_artifact
    from cnn2gnn.export.serving.deepstream import (
        ATTACH_TOP_CLASS_THRESHOLD,
        check_nvinfer_options,
        deepstream_labels_path,
        write_deepstream_config,
    )
    from cnn2gnn.export.serving.served_model import served_model_from_path
    from cnn2gnn.export.serving.triton import check_model_name, write_triton_model

    # Every option is checked before anything is written, so a bad one leaves no half-written configs.
    if triton is not None and name is not None:
        check_model_name(name)
    if deepstream is not None:
        threshold = ATTACH_TOP_CLASS_THRESHOLD if classifier_threshold is None else classifier_threshold
        check_nvinfer_options(process_mode, gie_unique_id, gpu_id, threshold)
        outputs = {"--deepstream": deepstream, "the labels file of --deepstream": deepstream_labels_path(deepstream)}
        refuse_clobbering_inputs(outputs, {"MODEL": model, "MODEL's sidecar": sidecar_path(model),
                                           "MODEL's anchor thumbnails": thumbnails_path(model)})
        for option, path in outputs.items():
            refuse_replacing_artifact(path, option, overwrite)
            check_writable_output(path, option)
    if triton is not None:
        check_writable_output(triton, "--triton", folder=True)
    served = served_model_from_path(model)
    served.server_max_batch(max_batch)
    result: dict[str, Any] = {"model": str(model), "notes": []}
    if triton is not None:
        entry = write_triton_model(triton, served, name, max_batch, max_queue_delay_us)
        result["triton"] = {"folder": str(entry.folder), "platform": entry.platform,
                            "max_batch_size": entry.max_batch_size, "model_file": served.format.triton_file_name}
        result["notes"] += entry.notes
    if deepstream is not None:
        written = write_deepstream_config(deepstream, served, max_batch, threshold, gie_unique_id, process_mode, gpu_id)
        result["deepstream"] = {"config": str(written.path), "labels": str(written.labels_path),
                                "net_scale_factor": written.normalisation.net_scale_factor,
                                "offsets": list(written.normalisation.offsets), "exact": written.normalisation.exact,
                                "max_abs_error": written.normalisation.max_abs_error}
        result["notes"] += written.notes
    if not json_out:
        for note in result["notes"]:
            typer.echo(f"note: {note}", err=True)
    emit(result, json_out, serve_config_summary(result))


def register(app: typer.Typer) -> None:
    app.command("serve-config", cls=HelpCommand)(serve_config_cmd)
