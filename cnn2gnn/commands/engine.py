"""The engine commands: ``build`` (a TensorRT engine from ONNX) and ``refit`` (a refittable engine takes an enrolled
model's anchor bank). TensorRT is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._shared import emit, require_at_least
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.output_paths import refuse_clobbering_inputs


def build_summary(result: dict[str, Any]) -> str:
    verb = ("reused (its sidecar matches this build)" if result["reused"]
            else f"built in {result['build_seconds']:.1f} s")
    profile = result["batch_profile"]
    return (
        f"{result['engine']}: {verb}\n"
        f"  {result['precision']}, TensorRT {result['tensorrt_version']}, {result['gpu']} "
        f"(compute capability {result['compute_capability']}), batch {profile['min']}/{profile['opt']}/{profile['max']}"
        + (f"\n  Triton model: {result['triton_model']}" if result.get("triton_model") else "")
    )


def build_cmd(
    model: Path = typer.Argument(
        ..., help="ONNX model from `cnn2gnn export` (FP32 / FP16) or `cnn2gnn calibrate` (Q/DQ INT8)."
    ),
    precision: str = typer.Option(
        "fp32", "--precision",
        help="fp32 | fp16 | int8. int8 takes a Q/DQ ONNX (TensorRT 10 and 11), or an FP32 ONNX with --calibration-set "
             "(TensorRT <= 10 only). fp16 on TensorRT 11 converts an FP32 ONNX to FP16 first."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o",
        help="Folder for the engine (default: the model's), or an engine file path (.engine / .plan). Default name: "
             "<model>-<sha12>-<precision>-trt<version>-sm<cc>.engine."
    ),
    min_batch: Optional[int] = typer.Option(
        None, "--min-batch", help="Smallest batch the engine accepts (default 1, or the model's fixed batch)."
    ),
    opt_batch: Optional[int] = typer.Option(
        None, "--opt-batch", help="Batch TensorRT tunes for (default 1: one camera frame)."
    ),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", help="Largest batch the engine accepts (default 64)."),
    workspace_mib: int = typer.Option(
        1024, "--workspace-mib", help="Builder workspace in MiB; lower it if a Jetson build gets 'Killed'."
    ),
    timing_cache: Optional[Path] = typer.Option(
        None, "--timing-cache",
        help="Timing cache file to reuse and update (speeds up rebuilds; refused if made by another TensorRT/GPU)."
    ),
    dla_core: Optional[int] = typer.Option(
        None, "--dla-core",
        help="Run on this Jetson DLA core (fp16/int8), falling back to the GPU for unsupported layers."
    ),
    version_compatible: bool = typer.Option(
        False, "--version-compatible",
        help="Engine loads on later TensorRT versions too (8.6+; 10.x engines also on 11.x); may be slower."
    ),
    hardware_compatible: bool = typer.Option(
        False, "--hardware-compatible",
        help="Engine loads on any Ampere-or-newer desktop GPU (not on Jetson); may be slower."
    ),
    refittable: bool = typer.Option(
        False, "--refittable",
        help="Anchor-mode students: build with TensorRT's REFIT flag, so `cnn2gnn refit` can later set the anchor "
             "bank of a model enrolled with `enroll --append` (into rows reserved by `export --bank-capacity`) "
             "instead of rebuilding; recorded in the engine's key and file name (-refit). May be slower."
    ),
    calibration_set: Optional[Path] = typer.Option(
        None, "--calibration-set",
        help="Calibration set from `cnn2gnn calibrate`, for implicit INT8 from an FP32 ONNX (TensorRT <= 10)."
    ),
    calibration_cache: Optional[Path] = typer.Option(
        None, "--calibration-cache",
        help="Implicit-INT8 calibration cache (default: <engine>.calib); reused only when made for this model, set and"
             " TensorRT."
    ),
    calibration_batch: int = typer.Option(
        8, "--calibration-batch", help="Images per implicit-INT8 calibration batch (a last partial batch is dropped)."
    ),
    triton_repo: Optional[Path] = typer.Option(
        None, "--triton-repo",
        help="Also write a Triton model repository entry: DIR/<name>/config.pbtxt, labels.txt, README.md and "
             "1/model.plan (as `cnn2gnn serve-config ENGINE --triton DIR`)."
    ),
    triton_model: Optional[str] = typer.Option(
        None, "--triton-model", help="Model name in the Triton repository (default: the ONNX file's stem)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Rebuild even if an engine (or calibration cache) exists that was built differently."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show build progress bars on stderr."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build a TensorRT engine (plain plan file + <engine>.json sidecar) for this GPU and TensorRT version.

    An existing engine is reused only if its sidecar shows it was built from the same ONNX, precision, batch
    profile, TensorRT version and GPU; otherwise the command lists what differs (or rebuilds with --force).
    Needs TensorRT (JetPack's python3-libnvinfer, or `pip install tensorrt`) and cuda-python or pycuda.
    """
    require_at_least(workspace_mib, 1, "--workspace-mib")
    require_at_least(calibration_batch, 1, "--calibration-batch")
    # The timing cache is read and updated in place, so it is an output only (never the model or its set).
    refuse_clobbering_inputs(
        {"--out": out, "--timing-cache": timing_cache, "--calibration-cache": calibration_cache},
        {"model": model, "model's sidecar": sidecar_path(model), "--calibration-set": calibration_set},
    )
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    built = engine_from_onnx(
        model, out, precision=precision, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch,
        workspace_bytes=workspace_mib << 20, timing_cache=timing_cache, dla_core=dla_core,
        version_compatible=version_compatible, hardware_compatible=hardware_compatible, refittable=refittable,
        calibration_set=calibration_set, calibration_cache=calibration_cache, calibration_batch=calibration_batch,
        force=force, progress=progress,
    )
    for warning in built.warnings:
        typer.echo(f"warning: {warning}", err=True)
    result = built.to_dict()
    if triton_repo is not None:
        from cnn2gnn.export.serving.served_model import served_model_from_path
        from cnn2gnn.export.serving.triton import write_triton_model

        entry = write_triton_model(triton_repo, served_model_from_path(built.engine_path), triton_model or model.stem)
        for note in entry.notes:
            typer.echo(f"warning: {note}", err=True)
        result["triton_model"] = str(entry.folder)
    emit(result, json_out, build_summary(result))


def refit_summary(result: dict[str, Any]) -> str:
    if result["reused"]:
        return f"{result['engine']}: already holds the anchor bank of {result['source_onnx']}; nothing to refit"
    check = result["check"]
    checked = ("not checked against ONNX Runtime (--no-check)" if check is None else
               f"checked against ONNX Runtime on {check['images']} anchors: max |Δlogit| "
               f"{check['max_abs_logit_diff']:.2g}, top-1 agreement {100 * check['top1_agreement']:.1f}%"
               + (f", identical neighbours {100 * check['neighbour_agreement']:.1f}%"
                  if "neighbour_agreement" in check else "")
               + (f", max |Δnovelty| {check['max_abs_novelty_diff']:.2g}" if "max_abs_novelty_diff" in check else ""))
    return (f"{result['engine']}: refitted from {result['source_engine']} with the anchor bank of "
            f"{result['source_onnx']} (bank sha256 {str(result['bank_sha256'])[:12]}) in {result['seconds']:.1f} s\n"
            f"  weights set: {', '.join(result['weights_set'])}\n  {checked}")


def refit_cmd(
    engine: Path = typer.Argument(..., help="An engine built with `cnn2gnn build MODEL --refittable` (its .json "
                                            "sidecar beside it)."),
    onnx: Path = typer.Option(..., "--onnx", help="The model whose anchor bank the engine takes: MODEL after `cnn2gnn "
                                                  "enroll --append` of a trained class into its reserved rows (same "
                                                  "graph, last layer and shapes)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o",
        help="Folder for the refitted engine (default: ENGINE's) or an engine file path; may be ENGINE itself to "
             "refit in place. Default name: the build's, from the new model's sha256."
    ),
    check: bool = typer.Option(
        True, "--check/--no-check",
        help="Run the refitted engine and ONNX Runtime (CPU) on the model's anchors and write it only if they agree "
             "(TensorRT asks to measure refit engines; 11.3 lists a refit issue that drops a GEMM bias)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an OUT that holds another engine."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Refit a refittable TensorRT engine with the anchor bank of an enrolled model, without rebuilding it.

    TensorRT refits weights of unchanged shape and type only: the engine must be built with `build --refittable`
    from a model exported with `--bank-capacity`, and ONNX must be that model after `enroll --append` into its free
    rows (the graph outside the anchor bank is checked by checksum). Otherwise the command says why and to rebuild
    with `cnn2gnn build`. The refitted engine is keyed by the new model's ONNX and bank sha256, so the engine of
    the old bank never serves the new model. Needs TensorRT, cuda-python or pycuda, onnx and (for the check)
    ONNX Runtime.
    """
    refuse_clobbering_inputs({"--out": out}, {"--onnx": onnx, "the sidecar of --onnx": sidecar_path(onnx),
                                              "the sidecar of ENGINE": sidecar_path(engine)})
    from cnn2gnn.engine.engine_refit import refit_engine

    result = refit_engine(engine, onnx, out, check=check, force=force).to_dict()
    emit(result, json_out, refit_summary(result))


def register(app: typer.Typer) -> None:
    app.command("build", cls=HelpCommand)(build_cmd)
    app.command("refit", cls=HelpCommand)(refit_cmd)
