"""``evaluate --explain`` writes one PNG per misclassified image: the image and its k anchors' thumbnails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.runtime.explanations import CAPTION, CELL, explanation_grid


@pytest.fixture(scope="module")
def exported(tiny_lp_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    out = tmp_path_factory.mktemp("explain") / "s.onnx"
    onnx_from_checkpoint(tiny_lp_student_ckpt, out, parity_samples=32, progress=False)
    return out


def test_evaluate_explain_writes_a_grid_per_misclassified_image(exported: Path, tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "why"
    result = CliRunner().invoke(app, ["evaluate", str(exported), "--explain", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    wrong = report["num_samples"] - round(report["accuracy"] * report["num_samples"])
    pngs = sorted(folder.glob("*.png"))
    assert wrong > 0 and report["explanations"]["images"] == len(pngs) == wrong
    grid = cv2.imread(str(pngs[0]))
    k = json.loads(Path(str(exported) + ".json").read_text())["graph"]["k"]
    assert grid.shape == (CELL + CAPTION, (k + 1) * CELL + k * 4, 3)
    truth, predicted = pngs[0].stem.split("_true-")[1].split("_pred-")
    assert truth != predicted
    listed = report["explanations"]["misclassified"]
    assert [item["file"] for item in listed] == [p.name for p in pngs]
    assert (listed[0]["truth"], listed[0]["predicted"]) == (truth, predicted) and len(listed[0]["neighbours"]) == k


def test_a_model_that_cannot_explain_is_refused_and_the_earlier_grids_are_kept(tiny_lp_student_ckpt: Path,
                                                                               tmp_path: Path) -> None:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    model = tmp_path / "plain.onnx"
    onnx_from_checkpoint(tiny_lp_student_ckpt, model, parity_samples=32, progress=False, neighbour_outputs=False)
    earlier = tmp_path / "why" / "00003_true-1_pred-7.png"
    earlier.parent.mkdir()
    earlier.write_bytes(b"an earlier run's grid")
    result = CliRunner().invoke(app, ["evaluate", str(model), "--explain", str(earlier.parent)])
    assert result.exit_code == 1 and "plain.onnx cannot explain its predictions" in str(result.exception)
    assert earlier.read_bytes() == b"an earlier run's grid"
    # refused off its metadata, before any data is read: a dataset that does not exist is never reached
    result = CliRunner().invoke(app, ["evaluate", str(model), "--data", f"imagefolder:{tmp_path / 'none'}",
                                      "--explain", str(earlier.parent)])
    assert result.exit_code == 1 and "plain.onnx cannot explain its predictions" in str(result.exception)


def test_grid_marks_anchors_of_the_true_class() -> None:
    thumbs = np.zeros((2, 8, 8, 1), np.uint8)
    grid = explanation_grid(np.full((8, 8), 255, np.uint8), "3->5", thumbs, ["3", "5"], [0.7, 0.3], truth="3")
    captions = grid[CELL:, :, :]
    first, second = captions[:, CELL + 4 : 2 * CELL + 4], captions[:, 2 * CELL + 8 :]
    def green(part: np.ndarray) -> bool:
        b, g, r = (part[:, :, i].astype(int) for i in range(3))
        return bool(((g - r > 50) & (g - b > 50)).any())

    assert green(first) and not green(second)  # green text on the true label's anchor only
    assert grid[:CELL, :CELL].min() == 255  # the image itself, white


def test_a_second_run_into_the_same_folder_leaves_only_its_own_grids(exported: Path, tmp_path: Path) -> None:
    folder = tmp_path / "why"
    folder.mkdir()
    stale = folder / "99999_true-cat_pred-dog.png"  # an earlier run's grid, of an image this run classifies right
    stale.write_bytes(b"old grid")
    mine = folder / "notes.png"
    mine.write_bytes(b"the user's own file")
    result = CliRunner().invoke(app, ["evaluate", str(exported), "--explain", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    listed = {item["file"] for item in json.loads(result.stdout)["explanations"]["misclassified"]}
    assert not stale.exists() and mine.read_bytes() == b"the user's own file"
    assert {p.name for p in folder.glob("*.png")} == listed | {"notes.png"}
