"""The whole doctor report on this machine (real probes), as text and JSON, through the CLI."""

from __future__ import annotations

import json
import platform

from typer.testing import CliRunner

from cnn2gnn import __version__
from cnn2gnn.cli import app
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available
from cnn2gnn.runtime.doctor.findings import Finding, ProbeContext, Section
from cnn2gnn.runtime.doctor.library_probes import tensorrt_api
from cnn2gnn.runtime.doctor.report import PROBES, format_doctor, run_doctor

runner = CliRunner()


def test_doctor_json_on_this_machine() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["sections"]) == {name for name, _ in PROBES}
    facts = report["sections"]["cnn2gnn"]["facts"]
    assert facts["cnn2gnn"] == __version__ and facts["python"].startswith(platform.python_version())
    import cv2
    import onnxruntime

    opencv = report["sections"]["opencv"]["facts"]
    assert opencv["opencv"].startswith(cv2.__version__) and {"gstreamer", "ffmpeg", "v4l2", "cuda"} <= set(opencv)
    assert report["sections"]["onnxruntime"]["facts"]["providers"] == onnxruntime.get_available_providers()
    tensorrt = report["sections"]["tensorrt"]
    if not tensorrt_available():
        assert tensorrt["facts"]["tensorrt"] is None and "pip install tensorrt" in tensorrt["findings"][0]["fix"]
    for finding in report["findings"]:
        assert finding["problem"] and finding["blocks"] and finding["fix"]


def test_doctor_text_lists_findings_with_their_fixes() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("cnn2gnn:\n  cnn2gnn")
    assert "blocking a feature:" in result.stdout or "nothing blocks a cnn2gnn feature here" in result.stdout


def test_a_failing_probe_is_reported_not_raised(monkeypatch) -> None:
    def broken(ctx: ProbeContext) -> Section:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr("cnn2gnn.runtime.doctor.report.PROBES", (("cuda", broken),))
    (section,) = run_doctor()
    assert "probing cuda failed: RuntimeError: driver exploded" in section.findings[0].problem


def test_text_format() -> None:
    text = format_doctor([Section("x", {"a": None, "bb": ["p", "q"], "c": True},
                                  [Finding("no foo", "bar", "install foo")])])
    assert text.splitlines()[:4] == ["x:", "  a   not found", "  bb  p, q", "  c   yes"]
    assert "1 finding blocking a feature:\n  - no foo\n    blocks: bar\n    fix: install foo" in text


def test_tensorrt_api_generations() -> None:
    assert tensorrt_api(parse_trt_version("11.0")).startswith("TensorRT 11.x: always strongly typed; INT8 from Q/DQ "
                                                              "only")
    assert "STRONGLY_TYPED flag" in tensorrt_api(parse_trt_version("10.3")) and "deprecated" in tensorrt_api(
        parse_trt_version("10.3"))
    assert "weakly typed" in tensorrt_api(parse_trt_version("8.6.1"))


def test_doctor_and_cache_never_load_torch() -> None:
    """Fresh interpreter: on a Jetson without torch both must run, and they must stay quick everywhere."""
    import subprocess
    import sys

    script = ("import sys\nfrom typer.testing import CliRunner\nfrom cnn2gnn.cli import app\n"
              "for args in (['doctor', '--json'], ['cache', '--json', '--cache-dir', '/nonexistent/cnn2gnn']):\n"
              "    assert CliRunner().invoke(app, args).exit_code == 0\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'tensorrt', 'matplotlib'}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
