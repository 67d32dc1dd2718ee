"""Doctor probes of the Python side: cnn2gnn, Python, numpy, OpenCV's build, ONNX Runtime, TensorRT.

Versions of packages cnn2gnn does not need to import (torch, onnx) come from their installed metadata,
so the doctor stays quick and never loads torch; OpenCV, ONNX Runtime and TensorRT are imported because
what matters is what they report (build options, providers, the real library behind a stub).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys

from cnn2gnn import __version__
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNX_HINT, ONNXRUNTIME_HINT, OPENCV_HINT, TORCH_HINT
from cnn2gnn.contracts.trt_version import TrtVersion, parse_trt_version
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import TENSORRT_INSTALL_HINT, require_tensorrt
from cnn2gnn.runtime.doctor.findings import Finding, ProbeContext, Section
from cnn2gnn.runtime.stream.opencv_build import build_value

SYSTEM_OPENCV_FIX = (
    "pip wheels of OpenCV are built without GStreamer: on a Jetson use JetPack's system OpenCV (python3-opencv; "
    "`pip uninstall opencv-python opencv-python-headless`, and a venv made with --system-site-packages)"
)


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def python_section(ctx: ProbeContext) -> Section:
    import numpy

    torch, onnx = installed_version("torch"), installed_version("onnx")
    section = Section("cnn2gnn", {
        "cnn2gnn": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": f"{platform.platform()} {platform.machine()}",
        "numpy": numpy.__version__,
        "torch": torch,
        "onnx": onnx,
    })
    if torch is None:
        section.findings.append(Finding(
            "torch is not installed", "train-teacher, distill, export and evaluating checkpoints (a deployed "
            ".onnx or engine runs and evaluates without it)", TORCH_HINT))
    if onnx is None:
        section.findings.append(Finding(
            "the onnx package is not installed", "export and calibrate (run, bench and build read ONNX models "
            "without it)", ONNX_HINT))
    return section


def opencv_section(ctx: ProbeContext) -> Section:
    try:
        cv2 = importlib.import_module("cv2")
    except ImportError as exc:
        return Section("opencv", {"opencv": None}, [Finding(
            f"OpenCV cannot be imported ({exc})", "run (cameras, RTSP, video files, --save, --show), image-folder "
            "datasets", OPENCV_HINT)])
    build = {name: build_value(cv2, name) for name in ("GStreamer", "FFMPEG", "v4l/v4l2", "NVIDIA CUDA", "GUI")}
    section = Section("opencv", {
        "opencv": f"{cv2.__version__} ({getattr(cv2, '__file__', None) or 'built in'})",
        "gstreamer": build["GStreamer"] or "NO",
        "ffmpeg": build["FFMPEG"] or "NO",
        "v4l2": build["v4l/v4l2"] or "NO",
        "cuda": build["NVIDIA CUDA"] or "NO",
        "gui": build["GUI"] or "NONE",
    })

    def missing(fact: str) -> bool:
        return not str(section.facts[fact]).upper().startswith("YES")

    if missing("gstreamer"):
        section.findings.append(Finding(
            "this OpenCV has no GStreamer", "csi:// cameras and the low-latency RTSP pipeline (FFmpeg RTSP still "
            "works)", SYSTEM_OPENCV_FIX))
    if missing("ffmpeg") and missing("gstreamer"):
        section.findings.append(Finding(
            "this OpenCV has neither FFmpeg nor GStreamer", "video files and rtsp:// sources",
            "pip install opencv-python-headless (it has FFmpeg), or JetPack's python3-opencv"))
    if missing("v4l2"):
        section.findings.append(Finding(
            "this OpenCV has no V4L2", "USB cameras (0, /dev/videoN)",
            "use an OpenCV built with V4L2: opencv-python-headless on Linux, or JetPack's python3-opencv"))
    if str(section.facts["gui"]).upper() == "NONE":
        section.findings.append(Finding(
            "this OpenCV has no GUI (a headless build)", "run --show (the preview window; --save still works)",
            "pip install opencv-python (not -headless), or use JetPack's system OpenCV"))
    return section


def onnxruntime_section(ctx: ProbeContext) -> Section:
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError as exc:
        return Section("onnxruntime", {"onnxruntime": None}, [Finding(
            f"ONNX Runtime cannot be imported ({exc})", ".onnx models on --backend onnxruntime (run, bench, compare, "
            "evaluate)", ONNXRUNTIME_HINT)])
    providers = list(ort.get_available_providers())
    section = Section("onnxruntime", {"onnxruntime": ort.__version__, "providers": providers,
                                      "device": ort.get_device()})
    return section


def tensorrt_api(version: TrtVersion) -> str:
    """Which TensorRT API generation the builder uses (the decisions :mod:`cnn2gnn.engine.build_plan` makes)."""
    typing = ("always strongly typed" if version.strongly_typed_only
              else "STRONGLY_TYPED flag for Q/DQ" if version.has_strongly_typed_flag else "weakly typed (INT8 flag)")
    int8 = ("Q/DQ only (implicit calibration removed)" if not version.supports_implicit_int8
            else "Q/DQ, or implicit calibration (deprecated)" if version.implicit_int8_deprecated
            else "Q/DQ or implicit calibration")
    fp16 = "FP16 builder flag" if version.supports_precision_flags else "FP16 by converting the ONNX first"
    return f"TensorRT {version.major}.x: {typing}; INT8 from {int8}; {fp16}"


def tensorrt_section(ctx: ProbeContext) -> Section:
    try:
        text = require_tensorrt()
    except Cnn2GnnError as exc:
        return Section("tensorrt", {"tensorrt": None}, [Finding(
            str(exc).split(". ", 1)[0], "--backend tensorrt, cnn2gnn build and build-on-first-run of .onnx models "
            "(ONNX Runtime still runs them)", TENSORRT_INSTALL_HINT)])
    version = parse_trt_version(text)
    return Section("tensorrt", {
        "tensorrt": text,
        "api": tensorrt_api(version),
        "version_compatible_engines": version.supports_version_compatible,
        "progress_monitor": version.has_progress_monitor,
    })
