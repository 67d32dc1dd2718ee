"""Which heavy modules a fresh interpreter has imported after some CLI invocations (the engine commands' help and
refusals must import none of them)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("tensorrt", "onnx", "onnxruntime", "torch", "cuda", "pycuda", "onnxconverter_common")


def heavy_modules_after_cli(invocations: list[list[str]]) -> list[str]:
    code = "import json, sys\nfrom typer.testing import CliRunner\nfrom cnn2gnn.cli import app\n"
    code += "".join(f"CliRunner().invoke(app, {args!r})\n" for args in invocations)
    code += f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
