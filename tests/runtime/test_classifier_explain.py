"""The runtime reads a student's extra outputs: explanations by anchors, and open-set "unknown" at its threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.classifier import Classifier
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from cnn2gnn.runtime.stream.outputs import frame_record
from tests.runtime.stream._media import write_png_folder


def test_explanations_are_the_models_own_neighbours_with_the_anchor_labels(open_set_student: dict[str, Any],
                                                                          digits) -> None:
    bank = open_set_student["metadata"]["extra"]["anchor_bank"]
    with load_backend(open_set_student["output"]) as backend:
        classifier = Classifier(backend)
        images = digits.test.images[:16]
        predictions = classifier.classify(images, "RGB", top_k=2, explain=True)
        raw = backend.infer_outputs(classifier.preprocess(images, "RGB"))
    names = open_set_student["metadata"]["class_names"]
    for n, prediction in enumerate(predictions):
        assert [a["anchor"] for a in prediction.neighbours] == raw["neighbour_index"][n].tolist()
        assert [a["weight"] for a in prediction.neighbours] == pytest.approx(raw["neighbour_weight"][n].tolist())
        assert [a["label"] for a in prediction.neighbours] == [names[bank["anchor_labels"][a["anchor"]]]
                                                               for a in prediction.neighbours]
        assert prediction.novelty == pytest.approx(float(raw["novelty"][n]))
    # the neighbours mostly share the image's true class: an explanation, not noise
    agree = np.mean([a["label"] == str(digits.test.labels[n]) for n, p in enumerate(predictions) for a in p.neighbours])
    assert agree > 0.5


def test_unknown_follows_the_threshold_chosen_on_validation(open_set_student: dict[str, Any], digits) -> None:
    chosen = open_set_student["metadata"]["extra"]["anchor_bank"]["novelty_threshold"]
    assert chosen["tpr"] == 0.9 and chosen["split"] == "val" and chosen["measured_tpr"] >= 0.9
    noise = [np.random.default_rng(i).integers(0, 256, (8, 8), dtype=np.uint8) for i in range(32)]
    with load_backend(open_set_student["output"]) as backend:
        classifier = Classifier(backend)
        known = classifier.classify(digits.test.images[:200], "RGB")
        unseen = classifier.classify(noise, "RGB")
    assert all(p.unknown == (p.novelty > chosen["threshold"]) for p in known + unseen)
    assert np.mean([p.unknown for p in known]) < 0.3 and np.mean([p.unknown for p in unseen]) > 0.7
    record = frame_record(0, 0.0, "x", unseen[0], 1.0)
    assert record["unknown"] is True and record["novelty"] == unseen[0].novelty and "neighbours" not in record


def test_models_without_extra_outputs_run_as_before_and_cannot_explain(student_model, digits) -> None:
    with load_backend(student_model.path) as backend:
        assert backend.output_names == ["logits"]
        classifier = Classifier(backend)
        (prediction,) = classifier.classify(digits.test.images[:1], "RGB")
        assert prediction.novelty is None and prediction.unknown is None and prediction.neighbours is None
        assert set(frame_record(0, 0.0, "x", prediction, 1.0)) == {"index", "timestamp", "source", "labels", "scores",
                                                                    "classes", "latency_ms"}
        with pytest.raises(Cnn2GnnError, match=r"cannot explain its predictions.*neighbour outputs"):
            classifier.classify(digits.test.images[:1], "RGB", explain=True)


def test_run_explain_writes_the_anchors_into_each_json_line(open_set_student: dict[str, Any], digits,
                                                            tmp_path: Path) -> None:
    write_png_folder(list(digits.test.images[:6]), tmp_path / "frames")
    out = tmp_path / "frames.jsonl"
    with load_backend(open_set_student["output"]) as backend:
        summary = run_stream(backend, StreamConfig(source=str(tmp_path / "frames"), out=out, status_every_s=0,
                                                   explain=True), log=lambda _: None)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["frames"]["processed"] == 6 and len(records) == 6
    k = open_set_student["graph"]["k"]
    assert all(len(r["neighbours"]) == k and {"anchor", "label", "weight"} == set(r["neighbours"][0]) for r in records)
    assert all(isinstance(r["unknown"], bool) for r in records)
