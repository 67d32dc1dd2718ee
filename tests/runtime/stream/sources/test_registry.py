"""The source registry: a SOURCE string goes to the kind that owns its scheme or claims it, and the
``run`` help is generated from whatever is registered."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources import registry
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource
from cnn2gnn.runtime.stream.sources.registry import register_source, registered_sources, source_from_spec, source_help

REPO = Path(__file__).resolve().parents[4]


class BlankSource(FrameSource):
    live = False

    def __init__(self, spec: str) -> None:
        self.description = spec

    def open(self) -> None:
        pass

    def read(self) -> tuple[np.ndarray, str] | None:
        return np.zeros((2, 2, 3), np.uint8), self.description


def blank_source(spec: str, settings: CaptureSettings) -> FrameSource:
    return BlankSource(spec)


@pytest.fixture
def blank_registered(monkeypatch):
    """A throwaway kind with a scheme (blank://) and a test (strings starting with "@"), for one test."""
    monkeypatch.setattr(registry, "_SOURCES", dict(registry._SOURCES))
    return register_source("blank", "blank://ANY (throwaway test frames)", blank_source, schemes=("blank",),
                           matches=lambda text: text.startswith("@"))


def test_every_builtin_kind_is_registered():
    assert [s.name for s in registered_sources()] == ["camera", "v4l2", "csi", "rtsp", "file", "gstreamer",
                                                      "images", "synthetic"]


def test_a_registered_kind_is_reachable_by_scheme_and_by_test_and_listed_in_the_help(blank_registered):
    assert isinstance(source_from_spec("BLANK://x"), BlankSource)
    assert source_from_spec("@cam").description == "@cam"
    assert "| blank://ANY (throwaway test frames)" in source_help()
    assert all(spec.help in source_help() for spec in registered_sources())


def test_unknown_scheme_lists_every_kind():
    with pytest.raises(SourceOpenError, match="unknown source scheme ftp://") as info:
        source_from_spec("ftp://host/x")
    assert source_help() in str(info.value)


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_source_is_refused_not_read_as_the_working_folder(spec, tmp_path, monkeypatch):
    (tmp_path / "frame.png").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceOpenError, match=f"SOURCE {spec!r} is empty; give one. SOURCE: camera index"):
        source_from_spec(spec)


def test_clashing_or_unreachable_registrations_are_refused(blank_registered):
    with pytest.raises(ValueError, match="registered already"):
        register_source("blank", "x", blank_source, schemes=("other",))
    with pytest.raises(ValueError, match=r"schemes already belong to other kinds: \{'rtsp': 'rtsp'\}"):
        register_source("rtsp2", "x", blank_source, schemes=("rtsp",))
    with pytest.raises(ValueError, match="needs schemes or a matches test"):
        register_source("nowhere", "x", blank_source)


def test_cli_run_help_lists_every_registered_source_kind():
    """A kind registered before the CLI is imported (as a plugin would be) shows up in run's SOURCE help."""
    probe = (
        "import json\n"
        "from cnn2gnn.runtime.stream.sources.registry import register_source, registered_sources\n"
        "register_source('blank', 'blank://ANY (throwaway test frames)', lambda s, c: None, schemes=('blank',))\n"
        "from typer.testing import CliRunner\nfrom cnn2gnn.cli import app\n"
        "print(json.dumps({'helps': [s.help for s in registered_sources()], "
        "'output': CliRunner().invoke(app, ['run', '--help']).output}))"
    )
    env = {**os.environ, "COLUMNS": "300", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    flat = " ".join(result["output"].split())
    assert "blank://ANY (throwaway test frames)" in result["helps"]
    assert all(" ".join(h.split()) in flat for h in result["helps"]), flat
