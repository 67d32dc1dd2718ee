"""The stream runtime is torch-free: its modules import none of the heavy libraries, and ``run --help`` neither."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NEVER_AT_IMPORT = ("torch", "onnx", "onnxruntime", "tensorrt", "cuda", "pycuda", "cv2", "sklearn", "matplotlib")
STREAM_MODULES = [".".join(p.relative_to(REPO).with_suffix("").parts)
                  for p in sorted((REPO / "cnn2gnn/runtime/stream").rglob("*.py")) if p.stem != "__init__"]


def test_stream_modules_and_run_help_import_nothing_heavy():
    assert len(STREAM_MODULES) >= 10
    probe = "\n".join(f"import {m}" for m in STREAM_MODULES) + (
        "\nfrom typer.testing import CliRunner\nfrom cnn2gnn.cli import app\n"
        "assert CliRunner().invoke(app, ['run', '--help']).exit_code == 0\n"
        "import json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({NEVER_AT_IMPORT!r}))))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
