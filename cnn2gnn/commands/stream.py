"""The ``run`` command: classify a camera / RTSP / video / image-folder stream frame by frame (torch-free).

Its exit codes are results a supervisor acts on (see :mod:`cnn2gnn.runtime.stream.exit_codes`), listed in
the command's help.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from cnn2gnn.commands._help_format import HelpCommand
from cnn2gnn.commands._runtime_backend import (
    ENGINE_CACHE_HELP,
    ENGINE_PRECISION_HELP,
    RUNTIME_BACKEND_HELP,
    THREADS_HELP,
    load_runtime_backend,
)
from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.output_paths import check_writable_output, refuse_clobbering_inputs, refuse_replacing_artifact
from cnn2gnn.runtime.stream.exit_codes import OutputError, exit_codes_help  # light: no cv2 / backends
from cnn2gnn.runtime.stream.sources.registry import source_help
from cnn2gnn.runtime.stream.sources.sources_file import read_sources_file


def run_cmd(
    model: Path = typer.Argument(..., help="An exported .onnx model or a TensorRT .engine / .plan."),
    source: Optional[List[str]] = typer.Argument(
        None, help=source_help() + " Several: one capture thread and queue each, their frames batched together.",
        show_default=False),
    sources_file: Optional[Path] = typer.Option(
        None, "--sources", help="A text file of SOURCEs, one per line (# comments); added after those given."),
    backend: Optional[str] = typer.Option(None, "--backend", help=RUNTIME_BACKEND_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
    engine_cache: Optional[Path] = typer.Option(None, "--engine-cache", help=ENGINE_CACHE_HELP),
    engine_precision: Optional[str] = typer.Option(None, "--engine-precision", help=ENGINE_PRECISION_HELP),
    top_k: int = typer.Option(5, "--top-k", help="Classes reported per frame."),
    explain: bool = typer.Option(
        False, "--explain", help="Add each frame's k anchors (bank index, label, weight) to its JSON line, and draw "
                                 "the strongest anchors' thumbnails (MODEL.anchors.npy) with label and weight on "
                                 "--save / --show frames (an anchor-mode student exported with neighbour outputs)."),
    width: Optional[int] = typer.Option(None, "--width", help="Camera width to request (cameras, csi://)."),
    height: Optional[int] = typer.Option(None, "--height", help="Camera height to request."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Camera frame rate to request."),
    open_timeout: float = typer.Option(
        5.0, "--open-timeout", help="Seconds to wait for the first frame (and for each network read)."
    ),
    rtsp_latency: int = typer.Option(
        200, "--rtsp-latency", help="RTSP jitter buffer in ms: lower is fresher, higher rides out a poor network."
    ),
    rtsp_transport: str = typer.Option("tcp", "--rtsp-transport", help="tcp | udp."),
    reconnect: float = typer.Option(
        10.0, "--reconnect",
        help="Seconds to keep reopening a lost live source (back-off 0.5 s doubling to 8 s); 0: give up at once."
    ),
    stall_timeout: float = typer.Option(
        10.0, "--stall-timeout", help="A read blocked this many seconds counts as a lost source; 0: wait forever."
    ),
    queue: int = typer.Option(4, "--queue", help="Frames buffered between capture and inference."),
    drop_policy: str = typer.Option(
        "auto", "--drop-policy",
        help="When the queue is full: drop-oldest (fresh results; auto for live sources) | drop-newest | block (every "
             "frame; auto for files and image folders)."
    ),
    batch: Optional[int] = typer.Option(
        None, "--batch", help="Micro-batch: up to N frames per inference call (default 1, or the number of sources; "
                              "never more than the model's max batch).", show_default=False),
    batch_wait_ms: float = typer.Option(10.0, "--batch-wait-ms", help="How long a micro-batch waits to fill."),
    roi: Optional[str] = typer.Option(None, "--roi", help="Classify only this region: X,Y,W,H in pixels."),
    center_crop: Optional[float] = typer.Option(
        None, "--center-crop", help="Classify a centred square, this fraction of the shorter side (1 = largest)."
    ),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after N classified frames."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="JSON lines (one per frame) to this file instead of stdout; written when the run ends."
    ),
    save: Optional[Path] = typer.Option(
        None, "--save", help="Write the annotated video here (.mp4 mp4v, .avi MJPG, .mkv FFV1 lossless)."
    ),
    fourcc: Optional[str] = typer.Option(
        None, "--fourcc", help="Codec for --save, four characters (overrides the suffix's)."
    ),
    show: bool = typer.Option(False, "--show", help="Show the annotated frames in a window (q / Esc stops)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Write the end-of-run summary as JSON here."),
    status_every: float = typer.Option(2.0, "--status-every", help="Seconds between status lines on stderr; 0: none."),
    json_out: bool = typer.Option(False, "--json", help='End stdout with the summary as one line {"summary": {...}}.'),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Let --out / --save / --summary replace a model, engine, checkpoint or sidecar."
    ),
) -> None:
    """Classify a camera / RTSP / video / image-folder stream frame by frame (torch-free).

    One JSON line per frame (index, timestamp, source, top-k labels and scores, latency ms) on stdout or --out,
    a status line on stderr every few seconds, and a summary (fps, p50/p95 latency, drops, time per stage) at
    the end. Ctrl-C stops cleanly and finalises every file.

    With several SOURCEs (or --sources FILE) each has its own capture thread and bounded queue, their frames
    share the model's batches, every JSON line gains source_id (the source's position; index counts per
    source), the summary lists each source's fps, latency and drops, and a source that fails is reported while
    the others keep running (the exit code still says so: 3 if one never opened, else 4 if one was lost).
    --save and --show take one source.
    """
    from cnn2gnn.runtime.stream.crop import Crop, parse_roi
    from cnn2gnn.runtime.stream.run import run_stream
    from cnn2gnn.runtime.stream.sources.base import CaptureSettings
    from cnn2gnn.runtime.stream.stream_config import StreamConfig

    specs = [*(source or []), *(read_sources_file(sources_file) if sources_file is not None else [])]
    if not specs:
        raise typer.BadParameter("give at least one SOURCE, or --sources FILE", param_hint="SOURCE")
    outputs = {"--out": out, "--save": save, "--summary": summary}
    local_sources = {f"source {spec}": Path(spec) for spec in specs if Path(spec).exists()}  # videos, image folders
    refuse_clobbering_inputs(outputs, {"model": model, "model's sidecar": sidecar_path(model),
                                       "model's anchor thumbnails": thumbnails_path(model), **local_sources})
    for option, path in outputs.items():
        if path is not None:
            refuse_replacing_artifact(path, option, overwrite)
            try:
                check_writable_output(path, option)
            except Cnn2GnnError as exc:  # run's exit code for an output that cannot be written
                raise OutputError(str(exc)) from None
    config = StreamConfig(
        source=specs[0] if len(specs) == 1 else tuple(specs),
        capture=CaptureSettings(width=width, height=height, fps=fps, open_timeout_s=open_timeout,
                                rtsp_latency_ms=rtsp_latency, rtsp_transport=rtsp_transport),
        top_k=top_k, explain=explain, model_path=model, queue_size=queue, drop_policy=drop_policy, batch_frames=batch,
        batch_wait_ms=batch_wait_ms,
        crop=Crop(roi=parse_roi(roi) if roi else None, center=center_crop), reconnect_s=reconnect,
        stall_timeout_s=stall_timeout, max_frames=max_frames, out=out, save=save, fourcc=fourcc, show=show,
        summary=summary, status_every_s=status_every,
    )
    with load_runtime_backend(model, backend, threads, engine_cache, engine_precision) as loaded:
        try:
            result = run_stream(loaded, config)
        except Cnn2GnnError as exc:
            if json_out and hasattr(exc, "summary"):
                typer.echo(json.dumps({"summary": exc.summary}, sort_keys=True, default=str))
            raise
    if json_out:
        typer.echo(json.dumps({"summary": result}, sort_keys=True, default=str))
    if result["exit_code"]:
        raise typer.Exit(result["exit_code"])


def register(app: typer.Typer) -> None:
    app.command("run", cls=HelpCommand, epilog="Exit codes:\n" + exit_codes_help())(run_cmd)
