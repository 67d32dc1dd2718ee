"""The engine cache: build on first run, reuse while the key matches, rebuild stale or corrupt engines, one
build at a time. TensorRT is replaced by tests/engine/_fake_engine_builder.py; the cache logic is real."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.file_lock import exclusive_file_lock
from cnn2gnn.contracts.gpu_info import GpuInfo
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.engine.engine_cache import (
    BuildTarget,
    cached_engines,
    clear_engine_cache,
    engine_for_onnx,
    lock_path_for,
)
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available
from tests.engine._fake_engine_builder import ORIN, FakeBuilder, build_in_another_process, key_of_build, orin
from tests.engine._onnx_models import tiny_metadata, write_linear_onnx


@pytest.fixture
def onnx(tmp_path: Path) -> Path:
    """A fresh copy per test: the cache writes beside it."""
    return write_linear_onnx(tmp_path / "models" / "linear.onnx", tiny_metadata())


def _run(onnx: Path, builder: FakeBuilder, messages: list[str] | None = None, **options):
    return engine_for_onnx(onnx, target=orin, build=builder, notify=(messages if messages is not None else []).append,
                           **options)


def test_first_run_builds_beside_the_model_and_later_runs_reuse(onnx: Path) -> None:
    builder, messages = FakeBuilder(), []
    first = _run(onnx, builder, messages)
    assert first.built and first.path.parent == onnx.parent
    assert first.path.name.startswith("student-") and first.path.name.endswith("-fp32-trt10.3.0-sm87.engine")
    assert json.loads(sidecar_path(first.path).read_text())["key"] == key_of_build(onnx, "fp32", ORIN)
    assert "first run" in messages[0] and f"built {first.path}" in messages[-1]
    messages.clear()
    again = _run(onnx, builder, messages)
    assert (again.path, again.built, len(builder.calls), messages) == (first.path, False, 1, [])
    assert not list(onnx.parent.glob(".building-*"))  # the staging folder is gone


def test_engine_cache_dir_holds_the_engine(onnx: Path, tmp_path: Path) -> None:
    built = _run(onnx, FakeBuilder(), cache_dir=tmp_path / "engines")
    assert built.path.parent == tmp_path / "engines" and built.path.is_file()
    with pytest.raises(Cnn2GnnError, match="give a folder"):
        _run(onnx, FakeBuilder(), cache_dir=tmp_path / "x.engine")


def test_a_stale_engine_is_rebuilt_with_the_reason_never_used(onnx: Path) -> None:
    _run(onnx, FakeBuilder())
    # Same TensorRT and compute capability (so the same file name), another GPU model: the key differs.
    other = BuildTarget(parse_trt_version("10.3.0"), GpuInfo("Jetson AGX Orin 64GB", (8, 7), True))
    builder, messages = FakeBuilder(target=other), []
    rebuilt = engine_for_onnx(onnx, target=lambda _: other, build=builder, notify=messages.append)
    assert rebuilt.built and len(builder.calls) == 1
    assert "gpu_name: engine has 'Orin', wanted 'Jetson AGX Orin 64GB'" in messages[0]
    assert "rebuilding" in messages[0] and rebuilt.reasons
    assert json.loads(sidecar_path(rebuilt.path).read_text())["key"]["gpu_name"] == "Jetson AGX Orin 64GB"


def test_a_changed_onnx_gets_its_own_engine(onnx: Path) -> None:
    first = _run(onnx, FakeBuilder())
    write_linear_onnx(onnx, tiny_metadata(), batch=4)  # re-exported: another sha256, a fixed batch
    second = _run(onnx, builder := FakeBuilder())
    assert second.built and second.path != first.path and len(builder.calls) == 1


@pytest.mark.parametrize("damage", ["truncate", "sidecar", "bad-sidecar"])
def test_a_corrupt_cached_engine_is_rebuilt_not_loaded(onnx: Path, damage: str) -> None:
    built = _run(onnx, FakeBuilder())
    if damage == "truncate":
        built.path.write_bytes(built.path.read_bytes()[:5])
    elif damage == "sidecar":
        sidecar_path(built.path).unlink()
    else:
        sidecar_path(built.path).write_text("{not json")
    messages: list[str] = []
    again = _run(onnx, builder := FakeBuilder(), messages)
    assert again.built and len(builder.calls) == 1
    expected = {"truncate": "sha256 differs", "sidecar": "has no sidecar",
                "bad-sidecar": "corrupt metadata sidecar"}[damage]
    assert expected in messages[0]
    assert _run(onnx, FakeBuilder()).built is False  # and the rebuilt one is good


def test_precision_comes_from_the_model(tmp_path: Path) -> None:
    qdq = write_linear_onnx(tmp_path / "m.qdq.onnx", tiny_metadata("int8-qdq"), qdq=True)
    fp16 = write_linear_onnx(tmp_path / "m.fp16.onnx", tiny_metadata("fp16"), fp16=True)
    fp32 = write_linear_onnx(tmp_path / "m.onnx", tiny_metadata())
    assert "-int8-" in _run(qdq, FakeBuilder()).path.name
    assert "-fp16-" in _run(fp16, FakeBuilder()).path.name
    assert "-fp16-" in _run(fp32, FakeBuilder(), precision="fp16").path.name
    with pytest.raises(Cnn2GnnError, match="INT8 model, so its engine is int8"):
        _run(qdq, FakeBuilder(), precision="fp16")
    with pytest.raises(Cnn2GnnError, match="use fp32 or fp16"):
        _run(fp32, FakeBuilder(), precision="int8")


def test_dla_core_is_part_of_the_key(onnx: Path) -> None:
    builder = FakeBuilder()
    gpu = _run(onnx, builder, precision="fp16")
    dla = _run(onnx, builder, precision="fp16", dla_core=0)
    assert dla.path != gpu.path and dla.path.name.endswith("-dla0.engine") and builder.calls[-1][3] == 0


def test_a_build_that_fails_caches_nothing_and_releases_the_lock(onnx: Path) -> None:
    def failing(*args: object) -> None:
        raise Cnn2GnnError("TensorRT could not build")

    with pytest.raises(Cnn2GnnError, match="could not build"):
        engine_for_onnx(onnx, target=orin, build=failing, notify=lambda m: None)
    assert not list(onnx.parent.glob("*.engine")) and not list(onnx.parent.glob(".building-*"))
    assert _run(onnx, FakeBuilder()).built


def test_an_engine_built_for_another_key_is_not_published(onnx: Path) -> None:
    other = BuildTarget(parse_trt_version("10.4.0"), GpuInfo("Orin", (8, 7), True))
    with pytest.raises(Cnn2GnnError, match="not the one asked for.*tensorrt_version"):
        _run(onnx, FakeBuilder(target=other))
    assert not list(onnx.parent.glob("*.engine"))


def test_concurrent_first_runs_build_once(onnx: Path) -> None:
    builder, messages, results = FakeBuilder(seconds=0.5), [], []
    threads = [threading.Thread(target=lambda: results.append(_run(onnx, builder, messages))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(builder.calls) == 1 and len(results) == 3
    assert sorted(r.built for r in results) == [False, False, True]
    assert len({r.path for r in results}) == 1
    assert sum("waiting for another cnn2gnn process" in m for m in messages) == 2


def test_concurrent_first_runs_in_two_processes_build_once(onnx: Path, tmp_path: Path) -> None:
    log_dir = tmp_path / "builds"
    log_dir.mkdir()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.starmap(build_in_another_process, [(str(onnx), str(tmp_path / "cache"), str(log_dir))] * 2)
    assert len(set(paths)) == 1 and len(list(log_dir.iterdir())) == 1
    assert _run(onnx, FakeBuilder(), cache_dir=tmp_path / "cache").built is False


def test_the_onnx_is_checked_before_tensorrt(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="does not exist"):
        engine_for_onnx(tmp_path / "missing.onnx")
    with pytest.raises(Cnn2GnnError, match="built from an .onnx model"):
        engine_for_onnx(tmp_path / "model.pt")


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
def test_without_tensorrt_the_message_says_so(onnx: Path) -> None:
    with pytest.raises(Cnn2GnnError) as caught:
        engine_for_onnx(onnx)
    text = str(caught.value)
    assert "builds an engine from" in text and "TensorRT is not installed" in text and "--backend onnxruntime" in text


def test_list_and_clear_the_engine_cache(onnx: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert cached_engines(cache) == []
    built = _run(onnx, FakeBuilder(), cache_dir=cache)
    (listed,) = cached_engines(cache)
    assert listed["path"] == str(built.path) and listed["precision"] == "fp32" and "problem" not in listed
    built.path.write_bytes(b"x")
    assert "sha256 differs" in cached_engines(cache)[0]["problem"]
    foreign = cache / "yolo.engine"  # another tool's engine: no sidecar, or one that is not cnn2gnn's
    foreign.write_bytes(b"their engine")
    (cache / "other.plan").write_bytes(b"theirs too")
    (cache / "other.plan.json").write_text('{"made_by": "trtexec"}')
    kept = [str(cache / "other.plan"), str(foreign)]
    old_format = cache / "older.engine"  # an earlier cnn2gnn's engine: its sidecar no longer reads, it is still ours
    old_format.write_bytes(b"engine of an older release")
    (cache / "older.engine.json").write_text('{"format": "cnn2gnn-engine/0", "cnn2gnn_version": "0.1.0"}')
    with exclusive_file_lock(lock_path_for(built.path)):  # another process is using it
        assert clear_engine_cache(cache) == {"removed": [str(old_format)], "skipped_in_use": [str(built.path)],
                                             "kept_foreign": kept}
    assert clear_engine_cache(cache) == {"removed": [str(built.path)], "skipped_in_use": [], "kept_foreign": kept}
    assert sorted(p.name for p in cache.iterdir()) == ["other.plan", "other.plan.json", "yolo.engine"]


def test_a_damaged_sidecar_is_listed_as_a_problem_not_raised(tmp_path: Path) -> None:
    # Listing reads every engine's sidecar: one damaged file must not stop `cnn2gnn cache` from listing the rest.
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, sidecar in (("binary.engine", b"\xf9\x00garbage"), ("list.engine", b"[1, 2]")):
        (cache / name).write_bytes(b"engine")
        sidecar_path(cache / name).write_bytes(sidecar)
    problems = [entry["problem"] for entry in cached_engines(cache)]
    assert len(problems) == 2 and all("corrupt metadata sidecar" in p for p in problems)
