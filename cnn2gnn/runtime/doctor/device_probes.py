"""Doctor probes of the device: CUDA bindings, driver and GPU, Jetson model and L4T/JetPack, cameras.

Files are read under the context's root (``/etc/nv_tegra_release``, ``/proc/device-tree/model``,
``/dev/video*``, ``/sys/class/video4linux``), so the tests fake a Jetson in a temporary folder.
"""

from __future__ import annotations

import os
import re

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import CUDA_PYTHON_INSTALL_HINT, compute_capability_text, query_gpu_info
from cnn2gnn.runtime.doctor.findings import Finding, ProbeContext, Section
from cnn2gnn.runtime.doctor.library_probes import installed_version

_L4T_RE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?", re.IGNORECASE)
_CUDA_VERSION_RE = re.compile(r"CUDA Version:\s*([\d.]+)")
# L4T release -> JetPack; newer ones are reported as unknown. NVIDIA states each pairing on its release pages
# (index: https://developer.nvidia.com/embedded/jetpack-archive), e.g. https://developer.nvidia.com/embedded/jetpack-sdk-514
# ("JetPack 5.1.4 ... includes Jetson Linux 35.6.0"; likewise jetpack-sdk-51, -511, -502),
# https://developer.nvidia.com/embedded/linux-tegra-r3271 and -r3272 ("L4T 32.7.x is included as part of JetPack 4.6.x"),
# https://developer.nvidia.com/embedded/jetpack/downloads/archive-7.0.md (7.0: 38.2/38.2.1) and archive-7.1.md (7.1: 38.4).
JETPACK_FOR_L4T = {
    "38.4.0": "7.1", "38.2.1": "7.0", "38.2.0": "7.0", "36.4.4": "6.2.1", "36.4.3": "6.2", "36.4.0": "6.1",
    "36.3.0": "6.0", "35.6.0": "5.1.4", "35.5.0": "5.1.3", "35.4.1": "5.1.2", "35.3.1": "5.1.1", "35.2.1": "5.1",
    "35.1.0": "5.0.2", "32.7.5": "4.6.5", "32.7.4": "4.6.4", "32.7.3": "4.6.3", "32.7.2": "4.6.2", "32.7.1": "4.6.1",
    "32.6.1": "4.6",
}
NO_GPU_FIX = ("install the NVIDIA driver (desktop) or JetPack (Jetson); without a GPU run models with "
              "--backend onnxruntime")


def _cuda_python_versions() -> tuple[str | None, str | None]:
    """(driver CUDA version, runtime CUDA version) from cuda-python, e.g. ("12.4", "12.4")."""
    try:
        from cuda.bindings import runtime as cudart  # pyright: ignore[reportMissingImports]
    except ImportError:
        try:
            from cuda import cudart  # pyright: ignore[reportMissingImports]
        except ImportError:
            return None, None

    def text(call: object) -> str | None:
        err, value = call()  # type: ignore[operator]
        return f"{value // 1000}.{value % 1000 // 10}" if err == cudart.cudaError_t.cudaSuccess else None

    return text(cudart.cudaDriverGetVersion), text(cudart.cudaRuntimeGetVersion)


def cuda_section(ctx: ProbeContext) -> Section:
    cuda_python = installed_version("cuda-python") or installed_version("cuda-bindings")
    pycuda = installed_version("pycuda")
    smi = ctx.run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"])
    smi_fields = [f.strip() for f in smi.splitlines()[0].split(",")] if smi and smi.strip() else []
    header = ctx.run(["nvidia-smi"]) if smi_fields else None
    match = _CUDA_VERSION_RE.search(header or "")
    driver_cuda, runtime_cuda = _cuda_python_versions() if cuda_python else (None, None)
    facts = {
        "cuda-python": cuda_python,
        "pycuda": pycuda,
        "driver": smi_fields[1] if len(smi_fields) > 1 else None,
        "cuda_driver_api": match.group(1) if match else driver_cuda,
        "cuda_runtime": runtime_cuda,
        "gpu": smi_fields[0] if smi_fields else None,
        "compute_capability": smi_fields[2] if len(smi_fields) > 2 else None,
        "integrated": None,
    }
    section = Section("cuda", facts)
    if cuda_python is None and pycuda is None:
        section.findings.append(Finding(
            "neither cuda-python nor pycuda is installed", "TensorRT engines (cnn2gnn build, --backend tensorrt): "
            "they allocate GPU memory through one of them", CUDA_PYTHON_INSTALL_HINT))
        if not smi_fields:
            section.findings.append(Finding("no NVIDIA GPU found (no nvidia-smi, no CUDA bindings)",
                                            "TensorRT engines", NO_GPU_FIX))
        return section
    try:
        gpu = query_gpu_info()
    except Cnn2GnnError as exc:
        section.findings.append(Finding(f"CUDA sees no usable GPU: {exc}", "TensorRT engines", NO_GPU_FIX))
        return section
    facts.update(gpu=gpu.name, compute_capability=compute_capability_text(gpu.compute_capability),
                 integrated=gpu.integrated)
    return section


def jetson_release(text: str) -> tuple[str | None, str | None]:
    """(L4T release, JetPack release) from ``/etc/nv_tegra_release``'s first line."""
    match = _L4T_RE.search(text)
    if match is None:
        return None, None
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    l4t = f"{major}.{minor}.{patch}"
    return l4t, JETPACK_FOR_L4T.get(l4t)


def jetson_section(ctx: ProbeContext) -> Section:
    model_file, release_file = ctx.path("/proc/device-tree/model"), ctx.path("/etc/nv_tegra_release")
    model = model_file.read_bytes().rstrip(b"\x00\n").decode("utf-8", "replace") if model_file.is_file() else None
    release_text = release_file.read_text(errors="replace") if release_file.is_file() else ""
    l4t, jetpack = jetson_release(release_text)
    is_jetson = bool(release_text) or bool(model and "jetson" in model.lower())
    if not is_jetson:
        return Section("jetson", {"jetson": False})
    section = Section("jetson", {
        "jetson": True,
        "model": model,
        "l4t": l4t,
        "jetpack": jetpack or (f"unknown for L4T {l4t}" if l4t else None),
    })
    if l4t is None:
        section.findings.append(Finding(
            f"{release_file} is missing or unreadable, so the L4T/JetPack release is unknown",
            "matching TensorRT and OpenCV to JetPack", "reinstall nvidia-l4t-core, or flash JetPack with SDK Manager"))
    return section


def cameras_section(ctx: ProbeContext) -> Section:
    dev = ctx.path("/dev")
    nodes = sorted(dev.glob("video*"), key=lambda p: (len(p.name), p.name)) if dev.is_dir() else []
    cameras = []
    for node in nodes:
        name_file = ctx.path(f"/sys/class/video4linux/{node.name}/name")
        name = name_file.read_text(errors="replace").strip() if name_file.is_file() else None
        cameras.append(f"/dev/{node.name}" + (f" ({name})" if name else ""))
    section = Section("cameras", {"video_devices": cameras})
    if not cameras:
        section.findings.append(Finding(
            "no /dev/video* devices", "camera sources (0, /dev/videoN; a CSI camera also needs nvargus-daemon)",
            "plug in a USB camera or attach the CSI camera and reboot; in a container pass --device /dev/video0"))
    denied = [f"/dev/{n.name}" for n in nodes if not os.access(n, os.R_OK | os.W_OK)]
    if denied:
        section.findings.append(Finding(
            f"no read/write permission on {', '.join(denied)}", "those cameras",
            "add yourself to the video group (`sudo usermod -aG video $USER`, then log in again)"))
    return section
