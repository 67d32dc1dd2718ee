"""Repository hygiene: small source files, no large committed files, no source folder named like build output."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "cnn2gnn"
MAX_SOURCE_LINES = 400
MAX_TRACKED_BYTES = 1 << 20
# Names that build tools, pytest and structure tools skip as output folders.
BUILD_OUTPUT_NAMES = {"build"}


def _package_files() -> list[Path]:
    return [p for p in PACKAGE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_no_file_in_the_package_is_over_400_lines() -> None:
    too_long = {}
    for path in _package_files():
        with path.open("rb") as f:
            lines = sum(1 for _ in f)
        if lines > MAX_SOURCE_LINES:
            too_long[str(path.relative_to(ROOT))] = lines
    assert too_long == {}, f"split these (at most {MAX_SOURCE_LINES} lines each): {too_long}"


def _tracked_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run([git, "-C", str(ROOT), "ls-files", "-z"], capture_output=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip(f"git ls-files failed: {proc.stderr.decode(errors='replace').strip()}")
    return [ROOT / name for name in proc.stdout.decode().split("\0") if name]


def test_no_tracked_file_is_over_1_mb() -> None:
    # A tracked file deleted in the working tree is about to leave the index: nothing to measure.
    large = {str(p.relative_to(ROOT)): p.stat().st_size for p in _tracked_files()
             if p.is_file() and p.stat().st_size > MAX_TRACKED_BYTES}
    assert large == {}, f"keep files over 1 MB out of git (generate them, or fetch them at setup): {large}"


def test_no_source_folder_is_named_like_build_output() -> None:
    # A folder holding Python sources; an empty leftover (or one with only __pycache__) is not source.
    named = [p for p in PACKAGE_DIR.rglob("*") if p.is_dir() and p.name.lower() in BUILD_OUTPUT_NAMES
             and any(p.rglob("*.py"))]
    assert named == [], f"rename these source folders (tools skip `build/`): {named}"
