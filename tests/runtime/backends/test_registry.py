"""The backend registry: names, suffixes and options are checked with errors that list what is valid,
and the CLI's --backend / --threads help is generated from whatever is registered."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends import registry
from cnn2gnn.runtime.backends.registry import (
    BackendSpec,
    backend_for_path,
    backend_help,
    backend_option_help,
    load_backend,
    register_backend,
    registered_backends,
)
from cnn2gnn.runtime.backends.runner import Runner

REPO = Path(__file__).resolve().parents[3]
THROWAWAY = BackendSpec(name="throwaway", suffixes=(".throwaway",), factory=f"{__name__}:ConstantRunner",
                        options={"value": "the logit every class gets"})


class ConstantRunner(Runner):
    """A backend without a library: every logit is ``value``."""

    name = "throwaway"

    def __init__(self, path: Path, value: float = 0.0) -> None:
        self.path, self.value = path, value

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return np.full((len(batch), 3), self.value, dtype=np.float32)


@pytest.fixture
def throwaway_registered(monkeypatch):
    """THROWAWAY registered for one test; the registry is restored afterwards."""
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    register_backend(THROWAWAY)
    yield THROWAWAY


def test_builtin_backends_are_registered_with_their_suffixes():
    by_name = {spec.name: spec for spec in registered_backends()}
    assert by_name["onnxruntime"].suffixes == (".onnx",) and "threads" in by_name["onnxruntime"].options
    assert set(by_name["tensorrt"].suffixes) == {".engine", ".plan", ".trt"}
    assert backend_for_path("m.ONNX").name == "onnxruntime" and backend_for_path("m.plan").name == "tensorrt"
    assert backend_for_path("m.onnx", "tensorrt").name == "tensorrt"  # a name beats the suffix


def test_registering_imports_no_backend_implementation():
    probe = ("import sys\nimport cnn2gnn.runtime.backends.registry\n"
             "print([m for m in sys.modules if m.endswith(('onnxruntime.runner', 'tensorrt.runner', '.loader', "
             "'cuda_memory')) or m.split('.')[0] in ('onnxruntime', 'tensorrt', 'cuda', 'pycuda')])")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_unknown_backend_lists_the_registered_ones(tmp_path):
    with pytest.raises(Cnn2GnnError, match="backend 'openvino' unknown; use one of: onnxruntime, tensorrt"):
        backend_for_path(tmp_path / "m.onnx", "openvino")


def test_unknown_suffix_names_the_suffixes_and_backends(tmp_path):
    model = tmp_path / "m.xml"
    model.write_bytes(b"")
    with pytest.raises(Cnn2GnnError, match=r"suffix '\.xml'; name the file \.onnx / \.engine / \.plan / \.trt "
                                           r"or pass --backend \(onnxruntime, tensorrt\)"):
        load_backend(model)


def test_options_a_backend_does_not_declare_are_refused(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    with pytest.raises(Cnn2GnnError) as info:
        load_backend(engine, threads=2)
    assert str(info.value) == ("option 'threads' applies to the onnxruntime backend only; "
                               "the tensorrt backend takes memory")
    with pytest.raises(Cnn2GnnError, match="option 'colour' is an option of no backend"):
        load_backend(engine, colour="red")


def test_options_left_at_none_count_as_not_given(tmp_path, throwaway_registered):
    model = tmp_path / "m.throwaway"
    model.write_bytes(b"")
    with load_backend(model, threads=None) as runner:  # threads is no option of this backend, but unset
        assert isinstance(runner, ConstantRunner) and runner.value == 0.0
    with load_backend(model, value=2.5) as runner:
        assert runner.infer(np.zeros((2, 1, 1, 1), np.float32)).tolist() == [[2.5] * 3] * 2


def test_clashing_or_malformed_registrations_are_refused(throwaway_registered):
    with pytest.raises(ValueError, match="registered already"):
        register_backend(THROWAWAY)
    with pytest.raises(ValueError, match=r"suffixes already belong to other backends: \{'.onnx': 'onnxruntime'\}"):
        register_backend(BackendSpec("other", (".onnx",), "m:f"))
    with pytest.raises(ValueError, match="factory must be 'module:attr'"):
        BackendSpec("other", (".x",), "module.without.attr")
    with pytest.raises(ValueError, match="lower case"):
        BackendSpec("other", ("X",), "m:f")


def test_a_backend_whose_module_is_missing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    register_backend(BackendSpec("absent", (".absent",), "no_such_backend_package.runner:Runner",
                                 install_hint="pip install no-such-backend"))
    model = tmp_path / "m.absent"
    model.write_bytes(b"")
    with pytest.raises(Cnn2GnnError, match="the absent backend needs .*pip install no-such-backend"):
        load_backend(model)


def test_generated_help_lists_every_registered_backend(throwaway_registered):
    text = backend_help()
    assert all(spec.name in text for spec in registered_backends())
    assert "throwaway" in text and ".throwaway -> throwaway" in text
    assert backend_option_help("value") == "the logit every class gets (throwaway backend only)."
    assert backend_option_help("threads").endswith("(onnxruntime backend only).")


def test_cli_help_lists_every_registered_backend():
    """A backend registered before the CLI is imported (as a plugin would be) shows up in --backend's help."""
    probe = (
        "import json\n"
        "from cnn2gnn.runtime.backends.registry import BackendSpec, register_backend, registered_backends\n"
        "register_backend(BackendSpec('throwaway', ('.throwaway',), 'm:Runner'))\n"
        "from typer.testing import CliRunner\nfrom cnn2gnn.cli import app\n"
        "outputs = {c: CliRunner().invoke(app, [c, '--help']).output for c in ('bench', 'compare', 'run')}\n"
        "print(json.dumps({'names': [s.name for s in registered_backends()], 'outputs': outputs}))"
    )
    env = {**os.environ, "COLUMNS": "300", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "throwaway" in result["names"]
    for command, output in result["outputs"].items():
        flat = " ".join(output.split())
        assert all(name in flat for name in result["names"]), (command, flat)
        assert ".throwaway -> throwaway" in flat, (command, flat)


def test_a_folder_or_a_missing_file_given_as_the_model_says_which(tmp_path):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    with pytest.raises(Cnn2GnnError, match=r"model\.onnx is a folder; give the model file in it"):
        load_backend(folder)
    with pytest.raises(Cnn2GnnError, match=r"model file .*missing\.onnx does not exist"):
        load_backend(tmp_path / "missing.onnx")
