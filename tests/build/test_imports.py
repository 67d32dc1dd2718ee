"""Every builder module imports where TensorRT, CUDA and onnx are absent, and imports none of them."""

import json
import pkgutil
import subprocess
import sys

import cnn2gnn.build

MODULES = sorted(f"cnn2gnn.build.{m.name}" for m in pkgutil.iter_modules(cnn2gnn.build.__path__))
HEAVY = ("tensorrt", "cuda", "pycuda", "onnx", "onnxruntime", "onnxconverter_common", "torch")


def test_every_module_is_listed():
    assert {"cnn2gnn.build.engine_from_onnx", "cnn2gnn.build.calibrator", "cnn2gnn.build.progress_monitor"} <= set(
        MODULES
    )


def test_modules_import_without_heavy_dependencies():
    code = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
