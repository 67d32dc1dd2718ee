from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cnn2gnn.contracts.atomic_io import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_bytes,
    sha256_file,
)
from cnn2gnn.contracts.errors import Cnn2GnnError


def test_writes_create_parents_and_leave_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    atomic_write_bytes(target, b"\x00\x01")
    atomic_write_text(tmp_path / "a" / "t.txt", "héllo")
    atomic_write_json(tmp_path / "a" / "j.json", {"b": [1, 2], "a": Path("/x")})
    assert target.read_bytes() == b"\x00\x01"
    assert (tmp_path / "a" / "t.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((tmp_path / "a" / "j.json").read_text()) == {"a": "/x", "b": [1, 2]}
    assert sorted(p.name for p in (tmp_path / "a").rglob("*")) == ["b", "j.json", "out.bin", "t.txt"]


def test_overwrite_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write_bytes(target, b"a long first version")
    atomic_write_bytes(target, b"short")
    assert target.read_bytes() == b"short"


def test_failure_keeps_the_previous_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    atomic_write_bytes(target, b"previous")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_bytes(b"half writ")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_failure_before_any_file_existed_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("partial")
            raise ValueError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_checksums(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # more than one 1 MiB read chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest() == sha256_bytes(data)


# Issue 11: a kill or a full disk mid-write, and concurrent writers of one artifact.

_PAIR_WRITER = """
import os, signal, sys
from pathlib import Path
import cnn2gnn.contracts.atomic_io as atomic_io

model, sidecar, payload, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
if mode == "kill-after-model-rename":  # SIGKILL at the worst moment: the model is in place, its sidecar is not
    real_replace = atomic_io.os.replace
    def replace_then_die(src, dst):
        real_replace(src, dst)
        os.kill(os.getpid(), signal.SIGKILL)
    atomic_io.os.replace = replace_then_die
if mode == "file-size-limit":  # a full disk: writes past 1 KiB fail with EFBIG
    import resource
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
for _ in range(int(os.environ.get("REPEAT", "1"))):
    with atomic_io.atomic_paths(model, sidecar) as (model_tmp, sidecar_tmp):
        model_tmp.write_bytes(payload * 64)
        sidecar_tmp.write_text(payload.decode())
"""


def _write_pair(tmp_path: Path, payload: str, mode: str = "", repeat: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PAIR_WRITER, str(tmp_path / "m.onnx"), str(tmp_path / "m.onnx.json"), payload, mode],
        capture_output=True, text=True, timeout=60, env={**os.environ, "REPEAT": str(repeat)},
    )


def _pair_is_consistent(tmp_path: Path) -> str | None:
    """The payload both files carry, or None when no sidecar is there; fails on a mixed pair."""
    model, sidecar = tmp_path / "m.onnx", tmp_path / "m.onnx.json"
    if not sidecar.exists():
        return None
    assert model.read_bytes() == sidecar.read_bytes() * 64, "the sidecar describes another model"
    return sidecar.read_text()


def test_a_kill_between_model_and_sidecar_never_leaves_a_stale_sidecar(tmp_path: Path) -> None:
    assert _write_pair(tmp_path, "old").returncode == 0
    killed = _write_pair(tmp_path, "new", "kill-after-model-rename")
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "m.onnx").read_bytes() == b"new" * 64
    assert _pair_is_consistent(tmp_path) is None  # no sidecar rather than the old one describing the new model
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and all(name.startswith(".m.onnx.json.") for name in leftovers)
    assert _write_pair(tmp_path, "next").returncode == 0  # the next write to the path cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
    assert _pair_is_consistent(tmp_path) == "next"


def test_a_failed_model_write_leaves_no_sidecar_and_the_old_pair(tmp_path: Path) -> None:
    from cnn2gnn.contracts.atomic_io import atomic_paths

    with atomic_paths(tmp_path / "m.onnx", tmp_path / "m.onnx.json") as (model, sidecar):
        model.write_bytes(b"old" * 64)
        sidecar.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_paths(tmp_path / "m.onnx", tmp_path / "m.onnx.json") as (model, sidecar):
            model.write_bytes(b"new")
            raise RuntimeError("serialising the model failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
    assert _pair_is_consistent(tmp_path) == "old"


def test_a_full_disk_keeps_the_previous_artifact_and_says_so(tmp_path: Path) -> None:
    assert _write_pair(tmp_path, "old").returncode == 0
    full = _write_pair(tmp_path, "x" * 100, "file-size-limit")  # 6400 bytes > the 1 KiB limit
    assert full.returncode == 1
    last_line = full.stderr.strip().splitlines()[-1]
    assert f"cannot write {tmp_path / 'm.onnx'}: File too large" in last_line and "free some space" in last_line
    assert _pair_is_consistent(tmp_path) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]


def test_two_concurrent_writers_leave_one_complete_pair_and_no_temporaries(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", _PAIR_WRITER, str(tmp_path / "m.onnx"),
                               str(tmp_path / "m.onnx.json"), payload, ""], env={**os.environ, "REPEAT": "200"})
             for payload in ("a" * 3000, "b" * 5000)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert _pair_is_consistent(tmp_path) in ("a" * 3000, "b" * 5000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]


def test_a_live_writers_temporary_file_is_not_removed(tmp_path: Path) -> None:
    from cnn2gnn.contracts.atomic_io import remove_stale_temporaries

    live = tmp_path / f".m.onnx.{os.getpid()}.abc123.tmp"
    dead = tmp_path / ".m.onnx.999999999.abc123.tmp"  # above any pid_max: no such process
    other = tmp_path / ".m.onnx.json.999999999.abc123.tmp"  # another target's
    for path in (live, dead, other):
        path.write_text("partial")
    assert remove_stale_temporaries(tmp_path / "m.onnx") == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


# A folder, or a file, where an artifact or its folder should go: named, with the fix, and nothing left behind.

def test_a_folder_where_a_companion_goes_is_named_and_the_old_pair_is_kept(tmp_path: Path) -> None:
    from cnn2gnn.contracts.atomic_io import atomic_paths

    (tmp_path / "m.onnx").write_bytes(b"old")
    (tmp_path / "m.onnx.json").mkdir()
    with pytest.raises(Cnn2GnnError) as err:
        with atomic_paths(tmp_path / "m.onnx", tmp_path / "m.onnx.json") as (model, sidecar):
            model.write_bytes(b"new")
            sidecar.write_text("new")
    assert str(err.value) == (f"cannot write {tmp_path / 'm.onnx.json'}: Is a directory (a folder has its name); "
                              "remove the folder or choose another path")
    assert isinstance(err.value, OSError)  # what callers with their own handling of write failures catch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
    assert (tmp_path / "m.onnx").read_bytes() == b"old"


def test_a_folder_where_the_file_goes_is_named(tmp_path: Path) -> None:
    (tmp_path / "report.json").mkdir()
    with pytest.raises(Cnn2GnnError) as err:
        atomic_write_json(tmp_path / "report.json", {"a": 1})
    assert str(err.value) == (f"cannot write {tmp_path / 'report.json'}: Is a directory (a folder has its name); "
                              "remove the folder or choose another path")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_file_where_a_folder_of_the_path_goes_is_named(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(Cnn2GnnError) as err:
        atomic_write_bytes(tmp_path / "runs" / "a" / "m.onnx", b"m")
    message = str(err.value)
    assert message.startswith(f"cannot write {tmp_path / 'runs' / 'a' / 'm.onnx'}: ")
    assert message.endswith(f"({tmp_path / 'runs'} is a file, not a folder); choose a path in a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]


def test_the_callers_own_os_errors_are_not_taken_for_write_failures(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        with atomic_path(tmp_path / "cache.npy") as tmp:
            tmp.write_bytes((tmp_path / "missing-input.npy").read_bytes())
    assert not isinstance(err.value, Cnn2GnnError)
    assert list(tmp_path.iterdir()) == []
