"""`run --explain --save`: the annotated frames show the strongest anchors' thumbnails with label and weight, and
a frame the open-set threshold rejected says "unknown" instead of a class."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.classifier import Prediction
from cnn2gnn.runtime.explanations import thumbnail_tile
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from cnn2gnn.runtime.stream.anchor_strip import strip_cells
from cnn2gnn.runtime.stream.outputs import annotate
from tests.runtime.stream._media import enlarged, read_video, write_png_folder

THUMBS = np.random.default_rng(0).integers(0, 256, (8, 6, 6, 3), dtype=np.uint8)  # RGB, each anchor distinct
# Nearest first as the model lists them, but not in weight order: the strip orders by weight.
NEIGHBOURS = [{"anchor": a, "label": f"c{a}", "weight": w}
              for a, w in [(2, 0.1), (7, 0.3), (0, 0.05), (5, 0.2), (1, 0.15), (3, 0.12), (4, 0.08)]]
BY_WEIGHT = [7, 5, 1, 3, 2]  # the five largest weights


def _cells(frame: np.ndarray, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(thumbnail area, caption band) of each strip cell."""
    cells, caption = strip_cells(frame.shape[0], frame.shape[1], count)
    return [(frame[y : y + s, x : x + s], frame[y + s + 1 : y + s + 1 + caption, x : x + s]) for x, y, s, _ in cells]


def _coloured(region: np.ndarray, bgr: tuple[int, int, int]) -> int:
    """Pixels of ``region`` clearly of colour ``bgr`` (pure red or green, as the headline is drawn)."""
    channels = region.astype(int)
    on = [channels[:, :, i] > 150 if v else channels[:, :, i] < 100 for i, v in enumerate(bgr)]
    return int((on[0] & on[1] & on[2]).sum())


def test_the_strip_shows_the_thumbnails_of_the_largest_weights_in_order() -> None:
    frame = np.full((240, 320, 3), 90, np.uint8)
    drawn = annotate(frame, Prediction(["c7"], [0.9], [7], neighbours=NEIGHBOURS), None, "#0", THUMBS)
    cells = _cells(drawn, len(BY_WEIGHT))
    assert len(cells) == len(BY_WEIGHT)
    for (area, caption), anchor in zip(cells, BY_WEIGHT):
        side = area.shape[0]
        assert side >= 24 and np.array_equal(area, thumbnail_tile(THUMBS[anchor], side))
        assert not np.array_equal(area, thumbnail_tile(THUMBS[(anchor + 1) % len(THUMBS)], side))
        assert (caption > 200).all(axis=2).any()  # white caption text on its dark band
    assert (frame == 90).all()  # drawn on a copy


def test_without_thumbnails_only_the_captions_are_drawn() -> None:
    frame = np.full((240, 320, 3), 90, np.uint8)
    drawn = annotate(frame, Prediction(["c7"], [0.9], [7], neighbours=NEIGHBOURS), None, "#0", None)
    for area, caption in _cells(drawn, len(BY_WEIGHT)):
        assert (area == 90).all()  # the frame itself shows through
        assert (caption > 200).all(axis=2).any() and (caption == 0).all(axis=2).any()


def test_without_neighbours_nothing_is_drawn_along_the_bottom() -> None:
    frame = np.full((240, 320, 3), 90, np.uint8)
    drawn = annotate(frame, Prediction(["c7"], [0.9], [7]), None, "#0", THUMBS)
    assert (drawn[200:] == 90).all()


def test_a_rejected_frame_says_unknown_in_red_instead_of_its_class() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    known = annotate(frame, Prediction(["c7"], [0.9], [7], novelty=0.1, unknown=False), None, "#0")
    unknown = annotate(frame, Prediction(["c7"], [0.9], [7], novelty=0.8, unknown=True), None, "#0")
    headline = slice(0, 40)
    assert _coloured(known[headline], (0, 1, 0)) > 20 and _coloured(known[headline], (0, 0, 1)) == 0
    assert _coloured(unknown[headline], (0, 0, 1)) > 20 and _coloured(unknown[headline], (0, 1, 0)) == 0
    assert _coloured(unknown[headline], (0, 0, 1)) > _coloured(known[headline], (0, 1, 0))  # "unknown (...)" is longer


def test_a_frame_too_small_for_thumbnails_gets_no_strip() -> None:
    assert strip_cells(32, 32, 5) == ([], 0)


@pytest.fixture(scope="module")
def frames(digits, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digits enlarged to 160x160, then noise frames of the same size (the open-set threshold rejects most)."""
    rng = np.random.default_rng(1)
    images = [enlarged(img, 20) for img in digits.test.images[:4]]
    images += [enlarged(rng.integers(0, 256, (8, 8), dtype=np.uint8), 20) for _ in range(6)]
    folder = tmp_path_factory.mktemp("strip_frames")
    write_png_folder(images, folder)
    return folder


def _run(model: Path, frames: Path, tmp_path: Path) -> tuple[list[dict[str, Any]], list[np.ndarray], list[str]]:
    out, video, logs = tmp_path / "f.jsonl", tmp_path / "v.mkv", []
    with load_backend(model) as backend:
        run_stream(backend, StreamConfig(source=str(frames), top_k=1, explain=True, model_path=model, out=out,
                                         save=video, status_every_s=0), log=logs.append)
    return [json.loads(line) for line in out.read_text().splitlines()], read_video(video), logs


def test_the_saved_video_shows_each_frames_anchors_and_its_rejection(open_set_student: dict[str, Any], frames: Path,
                                                                     tmp_path: Path) -> None:
    model = Path(open_set_student["output"])
    records, video, logs = _run(model, frames, tmp_path)
    thumbnails = np.load(thumbnails_path(model))
    assert len(records) == len(video) == 10 and not [line for line in logs if line.startswith("--explain")]
    for record, image in zip(records, video):
        strongest = [a["anchor"] for a in sorted(record["neighbours"], key=lambda a: -a["weight"])[:5]]
        cells = _cells(image, len(strongest))
        assert len(cells) == 5
        for (area, _), anchor in zip(cells, strongest):  # FFV1 is lossless: the thumbnails come back exactly
            assert np.array_equal(area, thumbnail_tile(thumbnails[anchor], area.shape[0]))
        headline = image[:20]
        red, green = _coloured(headline, (0, 0, 1)), _coloured(headline, (0, 1, 0))
        assert (red > 0 and green == 0) if record["unknown"] else (green > 0 and red == 0)
    assert {r["unknown"] for r in records} == {True, False}  # both kinds of frame were drawn


def test_without_the_thumbnail_file_the_run_says_so_once_and_draws_the_captions(
        open_set_student: dict[str, Any], frames: Path, tmp_path: Path) -> None:
    original = Path(open_set_student["output"])
    model = tmp_path / "copy" / original.name
    model.parent.mkdir()
    shutil.copy(original, model)
    shutil.copy(original.with_name(original.name + ".json"), model.with_name(model.name + ".json"))
    records, video, logs = _run(model, frames, tmp_path)
    said = [line for line in logs if line.startswith("--explain")]
    assert len(said) == 1 and "no anchor thumbnails" in said[0] and str(thumbnails_path(model)) in said[0]
    assert len(records) == len(video) == 10
    sources = [cv2.imread(str(frames / f"frame_{i}.png"), cv2.IMREAD_COLOR) for i in range(1, 11)]
    for image, source in zip(video, sources):
        for (area, caption), (original, _) in zip(_cells(image, 5), _cells(source, 5)):
            assert np.array_equal(area, original)  # the frame itself shows through, no anchor's image
            assert (caption > 200).all(axis=2).any()


def test_a_thumbnail_file_of_another_bank_is_refused_before_the_run(open_set_student: dict[str, Any], frames: Path,
                                                                    tmp_path: Path) -> None:
    original = Path(open_set_student["output"])
    model = tmp_path / original.name
    shutil.copy(original, model)
    shutil.copy(original.with_name(original.name + ".json"), model.with_name(model.name + ".json"))
    np.save(thumbnails_path(model), np.zeros((3, 8, 8, 1), np.uint8))
    with pytest.raises(Cnn2GnnError, match="sha256"):
        _run(model, frames, tmp_path)
    assert not (tmp_path / "v.mkv").exists()
