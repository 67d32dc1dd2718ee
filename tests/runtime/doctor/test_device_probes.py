"""The device probes on a fake Jetson file tree (and a machine that is not one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnn2gnn.runtime.doctor.device_probes import cameras_section, cuda_section, jetson_release, jetson_section
from cnn2gnn.runtime.doctor.findings import ProbeContext

ORIN_RELEASE = ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
                "DATE: Tue Aug  1 19:57:35 UTC 2023\n")


def _jetson_tree(root: Path, release: str | None = ORIN_RELEASE, cameras: int = 2) -> Path:
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    if release is not None:
        (root / "etc").mkdir()
        (root / "etc/nv_tegra_release").write_text(release)
    (root / "dev").mkdir()
    for i in range(cameras):
        (root / f"dev/video{i}").touch()
        (root / f"sys/class/video4linux/video{i}").mkdir(parents=True)
        (root / f"sys/class/video4linux/video{i}/name").write_text(f"vi-output, imx219 {9 + i}-0010\n")
    return root


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ORIN_RELEASE, ("35.4.1", "5.1.2")),
        ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64", ("36.4.3", "6.2")),
        ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref", ("32.7.1", "4.6.1")),
        ("# R38 (release), REVISION: 4.0, GCID: 42372130, BOARD: generic, EABI: aarch64", ("38.4.0", "7.1")),
        ("# R99 (release), REVISION: 1", ("99.1.0", None)),
        ("garbage", (None, None)),
    ],
)
def test_l4t_and_jetpack_from_nv_tegra_release(text: str, expected: tuple) -> None:
    assert jetson_release(text) == expected


def test_a_fake_orin(tmp_path: Path) -> None:
    ctx = ProbeContext(root=_jetson_tree(tmp_path))
    jetson = jetson_section(ctx)
    assert jetson.facts == {"jetson": True, "model": "NVIDIA Jetson Orin Nano Developer Kit", "l4t": "35.4.1",
                            "jetpack": "5.1.2"}
    assert jetson.findings == []
    cameras = cameras_section(ctx)
    assert cameras.facts["video_devices"] == ["/dev/video0 (vi-output, imx219 9-0010)",
                                              "/dev/video1 (vi-output, imx219 10-0010)"]
    assert cameras.findings == []


def test_a_jetson_without_its_release_file_says_how_to_fix_it(tmp_path: Path) -> None:
    section = jetson_section(ProbeContext(root=_jetson_tree(tmp_path, release=None)))
    assert section.facts["jetson"] is True and section.facts["l4t"] is None
    assert "nv_tegra_release" in section.findings[0].problem and "JetPack" in section.findings[0].fix


def test_not_a_jetson_and_no_cameras(tmp_path: Path) -> None:
    ctx = ProbeContext(root=tmp_path)
    assert jetson_section(ctx).facts == {"jetson": False} and jetson_section(ctx).findings == []
    cameras = cameras_section(ctx)
    assert cameras.facts["video_devices"] == [] and "camera sources" in cameras.findings[0].blocks


def test_nvidia_smi_gives_driver_cuda_and_gpu(tmp_path: Path) -> None:
    outputs = {
        "--query-gpu=name,driver_version,compute_cap": "NVIDIA H200, 550.54.15, 9.0\n",
        "nvidia-smi": "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |\n",
    }

    def fake_run(argv: list[str]) -> str | None:
        return outputs[argv[1]] if len(argv) > 1 else outputs["nvidia-smi"]

    section = cuda_section(ProbeContext(root=tmp_path, run=fake_run))
    assert (section.facts["gpu"], section.facts["driver"], section.facts["cuda_driver_api"]) == (
        "NVIDIA H200", "550.54.15", "12.4")
    assert section.facts["compute_capability"] in ("9.0", section.facts["compute_capability"])


def test_no_gpu_at_all(tmp_path: Path) -> None:
    section = cuda_section(ProbeContext(root=tmp_path, run=lambda argv: None))
    if section.facts["cuda-python"] is None and section.facts["pycuda"] is None:
        problems = [f.problem for f in section.findings]
        assert problems == ["neither cuda-python nor pycuda is installed",
                            "no NVIDIA GPU found (no nvidia-smi, no CUDA bindings)"]
