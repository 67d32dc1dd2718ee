"""`cnn2gnn evaluate CKPT --explain DIR`: an anchor-mode student's checkpoint explained through torch with the grids an
exported model gets, its neighbours those of the model's own ``neighbours(x)``; any other checkpoint refused, with why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cnn2gnn.cli import app
from cnn2gnn.contracts.anchor_thumbnails import thumbnails_from_inputs
from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.runtime.explanations import CELL, thumbnail_tile
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

runner = CliRunner()


@pytest.fixture(scope="module")
def explained(tiny_lp_student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("checkpoint_explain") / "why"
    result = runner.invoke(app, ["evaluate", str(tiny_lp_student_ckpt), "--device", "cpu", "--explain", str(folder),
                                 "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), folder


def test_each_mistake_lists_the_neighbours_the_model_itself_finds(explained: tuple[dict[str, Any], Path],
                                                                 tiny_lp_student_ckpt: Path) -> None:
    report, folder = explained
    ckpt = load_checkpoint(tiny_lp_student_ckpt)
    model = model_from_checkpoint(ckpt)
    test = load_dataset("digits", seed=ckpt.train_seed).split("test")
    listed = report["explanations"]["misclassified"]
    wrong = report["num_samples"] - round(report["accuracy"] * report["num_samples"])
    assert wrong > 0 and len(listed) == wrong == report["explanations"]["images"] == len(list(folder.glob("*.png")))
    x = torch.from_numpy(preprocess_images([test.images[item["index"]] for item in listed], ckpt.preprocessing))
    with torch.no_grad():
        weights, index = model.neighbours(x)
        predicted = model(x).argmax(dim=1)
    names, anchor_labels = ckpt.class_names, model.anchor_labels.tolist()
    for n, item in enumerate(listed):
        assert [a["anchor"] for a in item["neighbours"]] == index[n].tolist()
        assert [a["weight"] for a in item["neighbours"]] == pytest.approx(weights[n].tolist(), abs=1e-6)
        assert [a["label"] for a in item["neighbours"]] == [names[anchor_labels[j]] for j in index[n].tolist()]
        assert item["truth"] == names[test.labels[item["index"]]] != item["predicted"] == names[predicted[n]]
        assert (folder / item["file"]).is_file()


def test_the_grid_shows_the_checkpoints_anchor_images(explained: tuple[dict[str, Any], Path],
                                                      tiny_lp_student_ckpt: Path) -> None:
    report, folder = explained
    ckpt = load_checkpoint(tiny_lp_student_ckpt)
    thumbnails = thumbnails_from_inputs(ckpt.anchors["anchor_images"].numpy(), ckpt.preprocessing)
    item = report["explanations"]["misclassified"][0]
    grid = cv2.imread(str(folder / item["file"]))
    for position, anchor in enumerate([a["anchor"] for a in item["neighbours"]], start=1):
        left = position * (CELL + 4)
        assert np.array_equal(grid[:CELL, left : left + CELL], thumbnail_tile(thumbnails[anchor], CELL))


def test_a_teacher_checkpoint_is_refused_with_the_reason(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tiny_teacher_ckpt), "--explain", str(tmp_path / "why")])
    message = str(result.exception)
    assert result.exit_code == 1 and "a teacher without a graph" in message and "no anchors" in message
    assert "anchor-mode CNN2GNN student" in message and not (tmp_path / "why").exists()


def test_a_batch_mode_student_is_refused_with_the_reason(tiny_student_ckpt: Path, tmp_path: Path) -> None:
    payload = load_checkpoint(tiny_student_ckpt)
    payload.model_config = {**payload.model_config, "graph_mode": "batch"}  # same weights, the paper's graph
    path = save_checkpoint(tmp_path / "batch.pt", payload)
    result = runner.invoke(app, ["evaluate", str(path), "--explain", str(tmp_path / "why")])
    message = str(result.exception)
    assert result.exit_code == 1 and "batch-mode student" in message and "not a stored bank" in message
