"""The real pipeline: a distilled student exported to ONNX, streamed from a folder and a video, predicts
exactly what a direct backend call predicts, and what the PyTorch checkpoint predicts."""

from __future__ import annotations

import json

import numpy as np

from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.stream import StreamConfig, run_stream
from tests.runtime.stream._media import direct_predictions, write_ffv1_video, write_png_folder


def checkpoint_probabilities(checkpoint, images):
    """What ``cnn2gnn evaluate`` computes: the checkpoint's model on the training preprocessing, in PyTorch."""
    import torch

    from cnn2gnn.contracts.preprocessing import preprocess_images
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
    from cnn2gnn.toolchain.training.evaluate import predict_logits

    payload = load_checkpoint(checkpoint)
    x = torch.from_numpy(preprocess_images(images, payload.preprocessing))
    return torch.softmax(predict_logits(model_from_checkpoint(payload), x, batch_size=64), dim=1).numpy()


def streamed(model, source, tmp_path):
    out = tmp_path / "frames.jsonl"
    with load_backend(model) as backend:
        summary = run_stream(backend, StreamConfig(source=source, out=out, top_k=3, status_every_s=0),
                             log=lambda m: None)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["frames"]["processed"] == len(records)
    return records


def test_exported_student_streams_predict_what_the_checkpoint_predicts(exported_student_onnx, tiny_student_ckpt,
                                                                      digits, tmp_path):
    import cv2

    images, labels = digits.test.images[:48], digits.test.labels[:48]
    reference = checkpoint_probabilities(tiny_student_ckpt, images)
    assert np.mean(reference.argmax(axis=1) == labels) > 0.5  # a trained student, not noise

    write_png_folder(images, tmp_path / "pngs")
    from_folder = streamed(exported_student_onnx, str(tmp_path / "pngs"), tmp_path)
    frames = [cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) for img in images]
    write_ffv1_video(frames, tmp_path / "digits.mkv")
    from_video = streamed(exported_student_onnx, str(tmp_path / "digits.mkv"), tmp_path)

    direct = direct_predictions(exported_student_onnx, images, "RGB", top_k=3)
    assert [(r["classes"], r["scores"]) for r in from_folder] == direct  # exact: same pixels, same calls
    for records in (from_folder, from_video):
        assert len(records) == 48
        assert [r["classes"][0] for r in records] == list(reference.argmax(axis=1))
        np.testing.assert_allclose([r["scores"][0] for r in records], reference.max(axis=1), atol=1e-4)
    np.testing.assert_allclose([r["scores"] for r in from_video], [r["scores"] for r in from_folder], atol=1e-5)
