"""The runtime is torch-free: importing it, and running bench / compare, never loads torch or onnx.

Checked in fresh interpreters (sys.modules of the test process is polluted by other tests), and once
in a fresh virtual environment that has no torch, onnx or scikit-learn at all.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEVER_AT_IMPORT = ("torch", "onnx", "onnxruntime", "tensorrt", "cuda", "pycuda", "cv2", "sklearn")
RUNTIME_MODULES = tuple(
    ".".join(p.relative_to(REPO).with_suffix("").parts[:-1] if p.stem == "__init__" else
             p.relative_to(REPO).with_suffix("").parts)
    for p in sorted((REPO / "cnn2gnn/runtime").rglob("*.py"))
    if "stream" not in p.relative_to(REPO / "cnn2gnn/runtime").parts  # tests/runtime/stream/test_imports.py
) + ("cnn2gnn.cli",)


def _loaded_after(code: str, python: str = sys.executable, env: dict | None = None) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {NEVER_AT_IMPORT!r} if m in sys.modules)))"
    proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", RUNTIME_MODULES)
def test_importing_loads_no_heavy_library(module):
    assert _loaded_after(f"import {module}") == []


def test_compare_on_the_dataset_loaders_never_imports_torch(teacher_model, student_model):
    code = (
        "from cnn2gnn.cli import app\n"
        f"app(['compare', {str(teacher_model.path)!r}, {str(student_model.path)!r}, '--data', 'digits', "
        "'--limit', '20', '--json'], standalone_mode=False)"
    )
    loaded = _loaded_after(code)
    assert "torch" not in loaded and "onnx" not in loaded
    assert "onnxruntime" in loaded  # the probe sees real work: the models did run


@pytest.fixture(scope="session")
def torch_free_python(tmp_path_factory):
    """A fresh venv with only the runtime's packages (numpy, OpenCV, ONNX Runtime, typer, tqdm)."""
    venv = tmp_path_factory.mktemp("torch_free_venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "numpy", "opencv-python-headless", "onnxruntime", "typer",
                    "tqdm"], check=True, timeout=300, capture_output=True)
    return python


@pytest.mark.slow
def test_runtime_works_in_an_environment_without_torch(torch_free_python, student_model, tmp_path):
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONHOME", None)
    code = (
        "import importlib.util, numpy as np\n"
        "assert all(importlib.util.find_spec(m) is None for m in ('torch', 'onnx', 'sklearn')), 'not torch-free'\n"
        "from cnn2gnn.runtime import Classifier, load_backend\n"
        f"backend = load_backend({str(student_model.path)!r})\n"
        "frames = [np.random.default_rng(i).integers(0, 256, (30, 40, 3), dtype=np.uint8) for i in range(5)]\n"
        "preds = Classifier(backend).classify(frames, input_order='BGR', top_k=2)\n"
        "assert len(preds) == 5 and all(len(p.labels) == 2 for p in preds)\n"
        "from cnn2gnn.cli import app\n"
        f"app(['bench', {str(student_model.path)!r}, '--batch-sizes', '1', '--warmup', '1', '--iterations', '3', "
        "'--json'], standalone_mode=False)\n"
    )
    assert _loaded_after(code, torch_free_python, env) == ["cv2", "onnxruntime"]
    print(f"torch-free venv run took {time.perf_counter() - start:.1f} s")
