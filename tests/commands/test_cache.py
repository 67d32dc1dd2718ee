"""`cnn2gnn cache`: where distill's teacher logits went, listing and clearing them and the engine cache."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.engine.engine_cache import engine_for_onnx
from tests.engine._fake_engine_builder import FakeBuilder, orin
from tests.engine._onnx_models import tiny_metadata, write_linear_onnx

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_distill_says_where_the_teacher_logits_went_and_cache_lists_and_clears_them(
    tiny_teacher_ckpt: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    out = _ok(["distill", "--teacher", str(tiny_teacher_ckpt), "--out", str(tmp_path / "s"), "--epochs", "1", "-k",
               "3", "--anchors", "24", "--hidden", "16", "--proj-dim", "8", "--device", "cpu", "--cache-dir",
               str(cache)])
    assert f"teacher-logit cache: miss (written to {cache}; list or clear it with `cnn2gnn cache`)" in out

    listed = json.loads(_ok(["cache", "--list", "--cache-dir", str(cache), "--json"]))
    (entry,) = listed["teacher_logits"]
    assert listed["teacher_cache_dir"] == str(cache) and entry["split"] == "train" and entry["shape"][1] == 10
    assert "engines" not in listed
    assert f"teacher logits in {cache}: 1 file" in _ok(["cache", "--cache-dir", str(cache)])

    cleared = json.loads(_ok(["cache", "--clear", "--cache-dir", str(cache), "--json"]))
    assert cleared["teacher_logits_removed"] == [entry["path"]] and not list(cache.iterdir())


def test_a_corrupt_teacher_cache_file_is_listed_as_such(tmp_path: Path) -> None:
    (tmp_path / "teacher-logits-0123.npy").write_bytes(b"not an npy file")
    listed = json.loads(_ok(["cache", "--cache-dir", str(tmp_path), "--json"]))
    assert "corrupt" in listed["teacher_logits"][0]["problem"]


def test_engine_cache_is_listed_and_cleared(tmp_path: Path) -> None:
    onnx = write_linear_onnx(tmp_path / "models" / "linear.onnx", tiny_metadata())
    built = engine_for_onnx(onnx, target=orin, build=FakeBuilder(), notify=lambda m: None)
    args = ["--cache-dir", str(tmp_path / "none"), "--engine-cache", str(onnx.parent)]
    listed = json.loads(_ok(["cache", *args, "--json"]))
    assert listed["teacher_logits"] == [] and [e["path"] for e in listed["engines"]] == [str(built.path)]
    assert "fp32, TensorRT 10.3.0, Orin, from linear.onnx" in _ok(["cache", *args])
    assert "removed 1 engine(s)" in _ok(["cache", "--clear", *args])
    assert not built.path.exists() and onnx.is_file()


def test_list_and_clear_exclude_each_other() -> None:
    result = runner.invoke(app, ["cache", "--list", "--clear"])
    assert result.exit_code == 1 and "exclude each other" in str(result.exception)


def test_a_file_given_as_a_cache_folder_is_refused_and_a_missing_folder_is_said(tmp_path: Path) -> None:
    file = tmp_path / "logits.npy"
    file.write_bytes(b"a file")
    for option in ("--cache-dir", "--engine-cache"):
        result = runner.invoke(app, ["cache", option, str(file)])
        assert result.exit_code == 1 and f"{option} {file} is a file" in str(result.exception)
    assert "(no such folder: nothing cached there yet, or a typo?)" in _ok(["cache", "--cache-dir", str(tmp_path / "typo")])
