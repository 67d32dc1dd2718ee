"""benchmarks/make_digits_large.py writes datasets the idx: and imagefolder: loaders read back."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from cnn2gnn.toolchain.data import load_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "make_digits_large.py"
SMALL = ["--size", "12", "--train-per-source", "2", "--test-per-source", "1"]


def _make(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *SMALL, *extra],
                          capture_output=True, text=True, timeout=120)


def test_idx_set_reads_back_with_held_out_test_sources(tmp_path: Path) -> None:
    out = tmp_path / "idx"
    assert _make(out).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    data = load_dataset(f"idx:{out}")
    assert len(data.train) + len(data.val) == manifest["images"]["train"] == 2 * manifest["source_split"]["train"]
    assert len(data.split("test")) == manifest["images"]["test"] == manifest["source_split"]["test"]
    assert data.train.images[0].shape == (12, 12) and data.class_names == [str(c) for c in range(10)]
    assert np.bincount(data.split("test").labels, minlength=10).min() >= 30  # stratified source split
    # augmented: two variants of one source digit are never identical
    assert len({img.tobytes() for img in data.train.images}) == len(data.train)
    again = _make(out)
    assert again.returncode == 1 and "exists" in again.stderr


def test_imagefolder_set_has_its_own_validation_sources(tmp_path: Path) -> None:
    out = tmp_path / "folders"
    assert _make(out, "--format", "imagefolder").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    data = load_dataset(f"imagefolder:{out}")
    assert set(manifest["source_split"]) == {"train", "val", "test"}
    assert sum(manifest["source_split"].values()) == 1797
    for split in ("train", "val", "test"):
        assert len(data.split(split)) == manifest["images"][split]
    train = {img.tobytes() for img in data.train.images}
    assert not any(img.tobytes() in train for img in data.split("val").images + data.split("test").images)
