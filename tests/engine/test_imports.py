"""Every builder module imports where TensorRT, CUDA and onnx are absent, and imports none of them."""

import json
import pkgutil
import subprocess
import sys

import cnn2gnn.engine

MODULES = sorted(f"cnn2gnn.engine.{m.name}" for m in pkgutil.iter_modules(cnn2gnn.engine.__path__)) + [
    "cnn2gnn.calibration.tensorrt_calibrator", "cnn2gnn.calibration.tensorrt_calibration_cache",
    "cnn2gnn.calibration.calibration_batches",
]
HEAVY = ("tensorrt", "cuda", "pycuda", "onnx", "onnxruntime", "onnxconverter_common", "torch")


def test_every_module_is_listed():
    expected = {"cnn2gnn.engine.engine_from_onnx", "cnn2gnn.calibration.tensorrt_calibrator",
                "cnn2gnn.engine.progress_monitor", "cnn2gnn.engine.engine_refit", "cnn2gnn.engine.refit_weights",
                "cnn2gnn.engine.refit_check"}
    assert expected <= set(MODULES)


def test_modules_import_without_heavy_dependencies():
    code = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
